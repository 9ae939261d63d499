"""Tests of the HTTP face (snmpd_ng.http): endpoints, basic auth, TLS, metric rendering."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from daemon_helpers import (
    HttpReply,
    StaticCollector,
    client_context,
    default_logging,
    fetch,
    has_ipv6_loopback,
    write_self_signed_certificate,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from snmpd_ng.config.model import BasicAuthConfig, TlsConfig
from snmpd_ng.http.app import HttpState, build_app
from snmpd_ng.http.auth import is_authorized
from snmpd_ng.http.health import Heartbeat
from snmpd_ng.http.metrics import DaemonCollector, DaemonStats, build_registry, manager_metrics
from snmpd_ng.http.server import (
    HttpServer,
    HttpStartError,
    create_ssl_context,
    split_listen_address,
)
from snmpd_ng.secret import Secret
from snmpd_ng.transport.stats import GlobalStats

pytestmark = pytest.mark.usefixtures(default_logging.__name__)

PASSWORD = "scrape-password-93be"
AUTH = BasicAuthConfig(username="prometheus", password=Secret(PASSWORD))


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    """A running HttpServer with the state its handlers read."""

    state: HttpState
    clock: FakeClock
    server: HttpServer
    ready: list[bool] = field(default_factory=lambda: [False])

    @property
    def base_url(self) -> str:
        host, port = self.server.bound_addresses[0]
        scheme = "https" if self.server.ssl_context is not None else "http"
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{port}"

    async def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        context: ssl.SSLContext | None = None,
    ) -> HttpReply:
        return await asyncio.to_thread(fetch, self.base_url + path, headers, context)


async def serve(
    collectors: list[Collector] | None = None,
    listen: tuple[str, ...] = ("127.0.0.1:0",),
    ssl_context: ssl.SSLContext | None = None,
    basic_auth: BasicAuthConfig | None = None,
) -> Served:
    clock = FakeClock()
    ready = [False]
    stats = DaemonStats()
    state = HttpState(
        registry=build_registry(collectors or [StaticCollector()]),
        heartbeat=Heartbeat(max_age=3.0, now=clock),
        is_ready=lambda: ready[0],
        stats=stats,
        basic_auth=basic_auth,
    )
    server = HttpServer(build_app(state), listen, ssl_context)
    await server.start()
    return Served(state, clock, server, ready)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    running = await serve()
    yield running
    await running.server.stop()


@pytest.fixture
async def served_with_auth() -> AsyncIterator[Served]:
    running = await serve(basic_auth=AUTH)
    yield running
    await running.server.stop()


class TestMetricsEndpoint:
    async def test_metrics_renders_text_format(self, served: Served) -> None:
        reply = await served.get("/metrics")

        assert reply.status == 200
        assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "stand_in_value 42.0" in reply.body

    async def test_metrics_include_process_metrics(self, served: Served) -> None:
        reply = await served.get("/metrics")

        assert "process_resident_memory_bytes" in reply.body
        assert "python_info" in reply.body

    async def test_text_format_even_when_openmetrics_asked(self, served: Served) -> None:
        # SNMP counters keep snmp_exporter's names without _total, which OpenMetrics forbids,
        # so /metrics always answers the text format 0.0.4 (Prometheus accepts it).
        accept = {"Accept": "application/openmetrics-text; version=1.0.0"}

        reply = await served.get("/metrics", accept)

        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert not reply.body.endswith("# EOF\n")

    async def test_gzip_when_client_accepts(self, served: Served) -> None:
        reply = await served.get("/metrics", {"Accept-Encoding": "gzip"})

        assert reply.headers.get("Content-Encoding") == "gzip"
        assert "stand_in_value 42.0" in reply.body

    async def test_collector_error_gives_500(self) -> None:
        class BrokenCollector(Collector):
            def collect(self) -> Iterator[Metric]:
                raise RuntimeError("broken collector")

        running = await serve([BrokenCollector()])
        try:
            reply = await running.get("/metrics")
        finally:
            await running.server.stop()

        assert reply.status == 500
        assert running.state.stats.render_failures == 1


class TestHealthEndpoints:
    async def test_healthz_503_before_first_beat(self, served: Served) -> None:
        reply = await served.get("/healthz")

        assert reply.status == 503
        assert "no heartbeat yet" in reply.body

    async def test_healthz_200_after_beat(self, served: Served) -> None:
        served.state.heartbeat.beat()

        assert (await served.get("/healthz")).status == 200

    async def test_healthz_503_when_beat_is_old(self, served: Served) -> None:
        served.state.heartbeat.beat()
        served.clock.now += 3.5

        reply = await served.get("/healthz")

        assert reply.status == 503
        assert "last heartbeat 3.5 s ago" in reply.body

    async def test_readyz_follows_readiness(self, served: Served) -> None:
        before = await served.get("/readyz")
        served.ready[0] = True
        after = await served.get("/readyz")

        assert before.status == 503
        assert after.status == 200

    async def test_readyz_gives_default_reason(self, served: Served) -> None:
        reply = await served.get("/readyz")

        assert "waiting for the first poll attempt" in reply.body

    async def test_readyz_gives_daemon_reason(self, served: Served) -> None:
        served.state.not_ready_reason = lambda: "fenced: Redis unreachable"

        reply = await served.get("/readyz")

        assert reply.body == "not ready: fenced: Redis unreachable\n"

    async def test_index_lists_optional_routes(self, served: Served) -> None:
        served.state.index_lines = ("/cluster  cluster members",)

        reply = await served.get("/")

        assert reply.body.endswith("/cluster  cluster members\n")


class TestBasicAuth:
    async def test_missing_credentials_get_401(self, served_with_auth: Served) -> None:
        reply = await served_with_auth.get("/metrics")

        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"].startswith('Basic realm="snmpd-ng"')
        assert served_with_auth.state.stats.auth_failures == 1

    async def test_wrong_password_gets_401(self, served_with_auth: Served) -> None:
        reply = await served_with_auth.get("/metrics", basic("prometheus", "wrong"))

        assert reply.status == 401

    async def test_right_credentials_get_metrics(self, served_with_auth: Served) -> None:
        reply = await served_with_auth.get("/metrics", basic("prometheus", PASSWORD))

        assert reply.status == 200
        assert "stand_in_value" in reply.body

    async def test_probes_stay_open(self, served_with_auth: Served) -> None:
        served_with_auth.state.heartbeat.beat()

        assert (await served_with_auth.get("/healthz")).status == 200
        assert (await served_with_auth.get("/readyz")).status == 503

    async def test_password_never_in_metrics(self, served_with_auth: Served) -> None:
        reply = await served_with_auth.get("/metrics", basic("prometheus", PASSWORD))

        assert PASSWORD not in reply.body

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "",
            "Bearer abc",
            "Basic !!!notbase64",
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Basic " + base64.b64encode(b"prometheus:wrong").decode(),
            "Basic " + base64.b64encode(b"other:" + PASSWORD.encode()).decode(),
        ],
    )
    def test_is_authorized_rejects(self, header: str | None) -> None:
        assert not is_authorized(header, AUTH)

    def test_is_authorized_accepts_any_scheme_case(self) -> None:
        token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()

        assert is_authorized(f"basic {token}", AUTH)


class TestListen:
    @pytest.mark.parametrize(
        ("address", "expected"),
        [("127.0.0.1:9161", ("127.0.0.1", 9161)), ("[::1]:9161", ("::1", 9161)),
         ("localhost:80", ("localhost", 80))],
    )  # fmt: skip
    def test_split_listen_address(self, address: str, expected: tuple[str, int]) -> None:
        assert split_listen_address(address) == expected

    @pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
    async def test_ipv6_listen_serves(self) -> None:
        running = await serve(listen=("[::1]:0",))
        try:
            reply = await running.get("/metrics")
        finally:
            await running.server.stop()

        assert reply.status == 200

    async def test_two_addresses_both_serve(self) -> None:
        running = await serve(listen=("127.0.0.1:0", "127.0.0.1:0"))
        try:
            ports = {port for _, port in running.server.bound_addresses}
        finally:
            await running.server.stop()

        assert len(ports) == 2

    async def test_busy_port_names_address(self, served: Served) -> None:
        _, port = served.server.bound_addresses[0]
        clash = HttpServer(build_app(served.state), (f"127.0.0.1:{port}",), None)

        with pytest.raises(HttpStartError, match=f"cannot listen on 127.0.0.1:{port}"):
            await clash.start()
        await clash.stop()


class TestTls:
    async def test_tls_serves_metrics(self, tmp_path: Path) -> None:
        cert, key = write_self_signed_certificate(tmp_path)
        context = create_ssl_context(TlsConfig(str(cert), str(key)))
        running = await serve(ssl_context=context)
        try:
            url = running.base_url
            reply = await running.get("/metrics", context=client_context(cert))
        finally:
            await running.server.stop()

        assert url.startswith("https://127.0.0.1:")
        assert reply.status == 200

    def test_bad_key_file_names_files(self, tmp_path: Path) -> None:
        cert, _ = write_self_signed_certificate(tmp_path)
        bad_key = tmp_path / "bad.key"
        bad_key.write_text("not a key\n")

        with pytest.raises(HttpStartError, match="cannot load TLS certificate"):
            create_ssl_context(TlsConfig(str(cert), str(bad_key)))


class TestDaemonMetrics:
    def render(self, collector: Collector) -> dict[str, float]:
        samples: dict[str, float] = {}
        for family in collector.collect():
            for sample in family.samples:
                key = sample.name + "".join(f",{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[key] = sample.value
        return samples

    def test_reload_metrics_follow_stats(self) -> None:
        stats = DaemonStats(reloads_succeeded=2, reloads_failed=1, last_reload_successful=False)

        samples = self.render(DaemonCollector(stats, None))

        assert samples["snmpd_ng_config_reloads_total,result=success"] == 2
        assert samples["snmpd_ng_config_reloads_total,result=failure"] == 1
        assert samples["snmpd_ng_config_last_reload_successful"] == 0

    def test_build_info_has_version(self) -> None:
        samples = self.render(DaemonCollector(DaemonStats(), None))

        assert any(key.startswith("snmpd_ng_build_info,") for key in samples)

    def test_manager_stats_become_counters_and_gauges(self) -> None:
        @dataclass
        class Snapshot:
            requests: int = 5
            in_flight: int = 2
            error_status: dict[str, int] = field(default_factory=lambda: {"tooBig": 3})
            last_rtt: float | None = None

        families = {family.name: family for family in manager_metrics(Snapshot())}

        assert families["snmpd_ng_manager_requests"].type == "counter"
        assert families["snmpd_ng_manager_in_flight"].type == "gauge"
        assert families["snmpd_ng_manager_error_status"].samples[0].labels == {"name": "tooBig"}
        assert "snmpd_ng_manager_last_rtt" not in families

    def test_manager_stats_of_unknown_shape_are_skipped(self) -> None:
        assert list(manager_metrics({"requests": 1})) == []

    def test_manager_metrics_have_written_help(self) -> None:
        families = list(manager_metrics(GlobalStats(receive_buffer_drops=0)))

        generated = [family.name for family in families
                     if "statistic" in family.documentation or "counter." in family.documentation]
        assert len(families) == len(dataclasses.fields(GlobalStats))
        assert generated == []

    def test_unmatched_datagrams_help_says_what_it_counts(self) -> None:
        families = {family.name: family for family in manager_metrics(GlobalStats())}

        help_text = families["snmpd_ng_manager_unmatched_datagrams"].documentation
        assert help_text == (
            "Datagrams from an address of no target whose request-id matched no request waiting "
            "for a response."
        )
