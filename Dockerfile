# Container image of the snmpd_ng polling daemon. Build: docker build -t snmpd-ng .
# Run: docker run -p 9161:9161 -v /etc/snmpd-ng/config.yaml:/etc/snmpd-ng/config.yaml:ro snmpd-ng

# Python 3.11 on Debian 12, the oldest Python the project supports; the Debian release is pinned
# too, so a rebuild gets the same system libraries.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: build the snmpd_ng wheel from the source tree. Dependencies are not built here: they
# are installed from PyPI's binary wheels in the final stage.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY snmpd_ng ./snmpd_ng
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: the runtime image, with the wheel and its dependencies in a virtual environment.
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="snmpd-ng" \
      org.opencontainers.image.description="Asyncio SNMP polling daemon with a Prometheus /metrics endpoint" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/snmpd-ng/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATE_DIRECTORY=/var/lib/snmpd-ng

COPY --from=build /wheels /tmp/wheels
RUN python -m venv /opt/snmpd-ng \
    && /opt/snmpd-ng/bin/pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels

# A fixed non-root UID, so volume permissions and Kubernetes' runAsNonRoot can refer to it.
RUN useradd --system --no-log-init --uid 10001 --user-group \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin snmpd-ng \
    && mkdir -p /etc/snmpd-ng /var/lib/snmpd-ng \
    && chown snmpd-ng:snmpd-ng /var/lib/snmpd-ng
VOLUME ["/var/lib/snmpd-ng"]
USER 10001:10001

# HTTP port of /metrics, /healthz and /readyz (the daemon's default).
EXPOSE 9161

# The slim image has no curl, so Python's urllib makes the request; any HTTP error status or a
# refused connection raises and makes the check fail.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9161/healthz', timeout=4)"]

ENTRYPOINT ["snmpd-ng"]
CMD ["run", "--config", "/etc/snmpd-ng/config.yaml"]
