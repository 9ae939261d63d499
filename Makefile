# Developer and CI entry points. `make test` works on a fresh Debian 12+ or Ubuntu 24.04+ machine
# that has make, python3 (3.11 or newer) and python3-venv; `make deps` needs root or sudo for apt.

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed-from-pyproject
PYTEST := $(VENV)/bin/pytest -q -p no:cacheprovider

# snmpd lives in /usr/sbin, which is not on a normal user's PATH on Debian.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: venv deps test lint fuzz demo bench chaos

venv: $(VENV_STAMP)

# Reinstall only when pyproject.toml is newer than the stamp written after the last install.
$(VENV_STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# Installs net-snmp's agent (snmpd) and tools (snmp), and Redis (redis-server, redis-sentinel,
# for the cluster tests) when a program is missing. Debian's snmpd and redis-server packages start
# system services on 127.0.0.1 (ports 161 and 6379); the tests never use them, so they are
# disabled where systemd runs (/run/systemd/system exists only then).
deps:
	@set -e; \
	missing=""; packages=""; \
	for program in snmpd snmpget snmpwalk snmpbulkwalk snmpset; do \
		command -v $$program >/dev/null 2>&1 || missing="$$missing $$program"; \
	done; \
	[ -z "$$missing" ] || packages="snmpd snmp"; \
	for program in redis-server redis-sentinel; do \
		command -v $$program >/dev/null 2>&1 || { missing="$$missing $$program"; packages="$$packages $$program"; }; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "make deps: missing:$$missing; installing Debian packages$$packages"; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make deps: apt-get not found; install$$packages by hand" >&2; \
		exit 1; \
	fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else \
		echo "make deps: installing packages needs root, and sudo was not found;" \
			"run 'apt-get update && apt-get install -y$$packages' as root, then retry" >&2; \
		exit 1; \
	fi; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $$packages; \
	if [ -d /run/systemd/system ]; then \
		for service in snmpd redis-server redis-sentinel; do \
			$$sudo systemctl disable --now $$service 2>/dev/null || true; \
		done; \
	fi

# Tests marked slow (fuzz, soak) run with `make fuzz`.
test: deps venv
	$(PYTEST) -m "not slow"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The cluster chaos test for 10 minutes (make test runs it for 60 s); SNMPD_NG_CHAOS_SECONDS and
# SNMPD_NG_CHAOS_SEED change its length and its seed.
chaos: deps venv
	SNMPD_NG_CHAOS_SECONDS=$${SNMPD_NG_CHAOS_SECONDS:-600} $(PYTEST) tests/test_cluster_daemons.py -k chaos

# pytest exits with 5 when no test is selected, which is not a failure while no slow test exists.
fuzz: venv
	$(PYTEST) -m slow tests || { status=$$?; [ $$status -eq 5 ] || exit $$status; }

demo: deps venv
	bash deploy/demo.sh

bench: deps venv
	$(VENV)/bin/pip install --quiet -e '.[bench]'
	$(VENV)/bin/python bench/run.py

# A wheel of snmpd_ng with the codec's hot path compiled by mypyc, in build/compiled/. The build
# runs in .venv, because it needs mypy (test extra) and setuptools 77 or newer (pyproject.toml's
# license field), which an isolated build environment would lack. Needs a C compiler.
.PHONY: compiled
compiled: venv
	$(VENV)/bin/pip install --quiet 'setuptools>=77'
	SNMPD_NG_COMPILE=1 $(VENV)/bin/pip wheel --quiet --no-build-isolation --no-deps \
		--wheel-dir build/compiled .
