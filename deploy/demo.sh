#!/usr/bin/env bash
# Demo of snmpd-ng: start a private net-snmp agent on a free 127.0.0.1 port, poll it with
# `snmpd-ng run` in the foreground, and print the URL of /metrics. Ctrl-C (SIGINT) or SIGTERM
# stops the daemon and the agent and removes the temporary folder.
#
# Run through `make demo`, which installs snmpd and the virtualenv first.
set -euo pipefail

repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv_python="$repo_dir/.venv/bin/python"
snmpd_ng="$repo_dir/.venv/bin/snmpd-ng"
snmpd_bin=$(command -v snmpd || true)
[[ -z "$snmpd_bin" && -x /usr/sbin/snmpd ]] && snmpd_bin=/usr/sbin/snmpd

if [[ ! -x "$snmpd_ng" || -z "$snmpd_bin" ]] || ! command -v snmpget >/dev/null; then
    echo "demo: snmpd, snmpget or .venv/bin/snmpd-ng is missing; run 'make demo'" >&2
    exit 1
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/snmpd-ng-demo.XXXXXX")
daemon_pid=""
agent_pid=""

stop_agent() {
    [[ -n "$agent_pid" ]] || return 0
    kill -TERM "$agent_pid" 2>/dev/null || true
    # snmpd exits within a second of SIGTERM; give it five before SIGKILL. This shell is its
    # parent, so it reaps the agent as soon as it exits and `kill -0` fails from then on.
    for _ in $(seq 50); do
        kill -0 "$agent_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=""
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    stop_agent
    rm -rf "$work_dir"
    echo "demo: stopped snmpd-ng and the demo agent" >&2
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Port picking: the agent gets any free UDP port; HTTP gets 9161 (the default) when it is free.
# A port can be taken between this check and its use; the daemon then fails with a clear error.
read -r agent_port http_port < <("$venv_python" - <<'EOF'
import socket

def free_port(kind, preferred=0):
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

print(free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM, 9161))
EOF
)

cat >"$work_dir/snmpd.conf" <<EOF
agentAddress udp:127.0.0.1:$agent_port
rocommunity public default
# An SNMPv3 user with SHA-256 and AES-128; its passphrases are printed in README.md.
createUser demo SHA-256 demo-auth-pass AES demo-priv-pass
rouser demo priv
syslocation snmpd-ng demo agent
syscontact nobody@example.net
sysservices 72
EOF

# MIBS= skips loading MIB files; SNMP_PERSISTENT_DIR keeps the agent's state in the temp folder.
# -f keeps snmpd in the foreground as this script's child, so that stop_agent can reap it.
MIBS= SNMP_PERSISTENT_DIR="$work_dir/snmpd-state" "$snmpd_bin" -f -C -c "$work_dir/snmpd.conf" \
    -r -p "$work_dir/snmpd.pid" -Lf "$work_dir/snmpd.log" &
agent_pid=$!

for _ in $(seq 50); do
    if MIBS= SNMPCONFPATH="$work_dir" snmpget -v2c -c public -t 0.2 -r 0 \
        "udp:127.0.0.1:$agent_port" .1.3.6.1.2.1.1.3.0 >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$agent_pid" 2>/dev/null; then
        echo "demo: snmpd exited at start; its log:" >&2
        cat "$work_dir/snmpd.log" >&2
        exit 1
    fi
    sleep 0.1
done

sed -e "s|@AGENT_PORT@|$agent_port|" -e "s|@HTTP_PORT@|$http_port|" \
    -e "s|@STATE_DIR@|$work_dir/state|" "$repo_dir/config/demo.yaml" >"$work_dir/config.yaml"

echo "demo: net-snmp agent on udp:127.0.0.1:$agent_port (log: $work_dir/snmpd.log)"
echo "demo: metrics at http://127.0.0.1:$http_port/metrics"
echo "demo: press Ctrl-C to stop"

# In the background and waited for, so that a signal to this script runs its trap at once
# (bash runs traps only after a foreground command ends).
"$snmpd_ng" run --config "$work_dir/config.yaml" --log-format console &
daemon_pid=$!
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""

# The daemon exits 0 only when a signal stopped it. SIGTERM to this script exits 143 through its
# trap, and Ctrl-C exits 130 through the INT trap. But a shell that a script started in the
# background ignores SIGINT and cannot trap it, while the daemon still stops on it. So a daemon
# that ended with 0 was stopped by SIGINT, and the demo exits 130 as a shell would.
if ((status == 0)); then
    status=130
fi
exit "$status"
