"""`snmpd-ng alerts VERB`: list, show, acknowledge and silence alerts through the daemon's API.

Each verb sends one request to the JSON API under /api/v1 (docs/api-http.md) and prints a
table, or the API's JSON document with `--json`. The write verbs (ack, ack-group, silence,
expire) send the bearer token from `--token-file`. Exit codes:

    0  success
    1  the daemon rejected the request or failed (the message gives the reason)
    2  usage error: a bad option, or a token or password file that cannot be read
    3  not found: no alert or silence has that id
    4  authentication failed: missing or wrong token or basic auth credentials
    5  the daemon cannot be reached: connection refused, timeout or TLS failure
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import getpass
import json
import math
import os
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import aiohttp

from snmpd_ng.cli import alert_tables as tables
from snmpd_ng.secret import Secret

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_UNREACHABLE = 5

DEFAULT_URL = "http://127.0.0.1:9161"
DEFAULT_TIMEOUT = 10.0
URL_VARIABLE = "SNMPD_NG_URL"
TOKEN_FILE_VARIABLE = "SNMPD_NG_TOKEN_FILE"
PASSWORD_FILE_VARIABLE = "SNMPD_NG_PASSWORD_FILE"
API = "/api/v1"
WRITE_VERBS = frozenset({"ack", "ack-group", "silence", "expire"})

_EPILOG = """\
exit codes: 0 success, 1 the daemon rejected the request or failed, 2 usage error,
3 alert or silence not found, 4 authentication failed, 5 the daemon cannot be reached.
The options of the connection follow the verb: snmpd-ng alerts list --url https://host:9161
"""


class CliError(Exception):
    """A failure to report on stderr, with the exit code it maps to."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Connection:
    """The daemon's API address and the credentials for it."""

    url: str
    token: Secret | None
    basic_auth: Secret | None
    """The whole Authorization value, "Basic " and the encoded user name and password."""
    ssl: ssl.SSLContext | bool
    timeout: float


@dataclass(frozen=True)
class Streams:
    out: TextIO
    err: TextIO


def cli_alerts(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `snmpd-ng alerts` with `argv` (the words after `alerts`); return the exit code."""
    streams = Streams(out or sys.stdout, err or sys.stderr)
    return asyncio.run(run_alerts(argv, streams))


async def run_alerts(argv: Sequence[str], streams: Streams) -> int:
    """Parse `argv`, send the verb's request and print the result; return the exit code."""
    try:
        # argparse prints help and usage errors to sys.stdout and sys.stderr.
        with contextlib.redirect_stdout(streams.out), contextlib.redirect_stderr(streams.err):
            args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        connection = _connection(args)
        return await _VERBS[args.verb](args, connection, streams)
    except CliError as exc:
        streams.err.write(f"snmpd-ng alerts {args.verb}: {exc}\n")
        return exc.exit_code


# Options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snmpd-ng alerts", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List, show, acknowledge and silence alerts through the API of a running "
        "snmpd-ng daemon.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    common = _common_options()
    _add_list(verbs, common)
    show = verbs.add_parser("show", parents=[common], help="show one alert")
    show.add_argument("fingerprint", help="the alert's fingerprint or its first digits")
    _add_ack(verbs, common)
    _add_silence(verbs, common)
    silences = verbs.add_parser("silences", parents=[common], help="list silences")
    silences.add_argument("--all", action="store_true",
                          help="include expired silences (still kept for their retention)")
    expire = verbs.add_parser("expire", parents=[common], help="end a silence now")
    expire.add_argument("silence_id", help="the silence's id or its first digits")
    _add_by(expire)
    _add_history(verbs, common)
    return parser


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--url", default=os.environ.get(URL_VARIABLE, DEFAULT_URL),
                       help=f"the daemon's HTTP address (default ${URL_VARIABLE} or "
                       f"{DEFAULT_URL})")
    group.add_argument("--token-file", type=Path, default=_env_path(TOKEN_FILE_VARIABLE),
                       help="file with the API's bearer token, needed by ack, ack-group, "
                       f"silence and expire (default ${TOKEN_FILE_VARIABLE})")
    group.add_argument("--user", help="basic auth user name, when the daemon has basic auth")
    group.add_argument("--password-file", type=Path, default=_env_path(PASSWORD_FILE_VARIABLE),
                       help=f"file with the basic auth password (default "
                       f"${PASSWORD_FILE_VARIABLE})")
    group.add_argument("--cacert", type=Path,
                       help="CA certificates (PEM) to verify the daemon's TLS certificate")
    group.add_argument("--insecure", action="store_true",
                       help="do not verify the daemon's TLS certificate")
    group.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT,
                       help=f"seconds to wait for the response (default {DEFAULT_TIMEOUT:g})")
    group.add_argument("--json", action="store_true",
                       help="print the API's JSON document instead of a table")
    return common


def _add_list(verbs: Any, common: argparse.ArgumentParser) -> None:
    listing = verbs.add_parser("list", parents=[common], help="list alerts")
    listing.add_argument("--state", action="append", default=[],
                         help="pending, firing, acknowledged, resolved or all (default: every "
                         "state but resolved); repeat or separate with commas")
    listing.add_argument("--severity", action="append", default=[],
                         help="critical, warning or info; repeat for several")
    listing.add_argument("--rule", action="append", default=[], help="rule name")
    listing.add_argument("--target", action="append", default=[], help="target name")
    listing.add_argument("--filter", action="append", default=[], metavar="MATCHERS",
                         help="label matchers in Alertmanager's syntax, such as "
                         "'ifName=~\"Gi.*\"'; all must hold")


def _add_ack(verbs: Any, common: argparse.ArgumentParser) -> None:
    ack = verbs.add_parser("ack", parents=[common], help="acknowledge an alert")
    ack.add_argument("fingerprint", help="the alert's fingerprint or its first digits")
    ack.add_argument("-m", "--comment", help="why, or what is being done")
    _add_by(ack)
    group = verbs.add_parser("ack-group", parents=[common],
                             help="acknowledge every firing alert of a group")
    group.add_argument("group_key", help="the group key, such as 'network:{target=\"core1\"}'")
    group.add_argument("-m", "--comment", help="why, or what is being done")
    _add_by(group)


def _add_silence(verbs: Any, common: argparse.ArgumentParser) -> None:
    silence = verbs.add_parser("silence", parents=[common], help="create a silence")
    silence.add_argument("matchers", nargs="+", metavar="MATCHER",
                         help="label matchers, such as 'target=\"core1\"'; all must hold")
    silence.add_argument("-m", "--comment", required=True, help="why the alerts are silenced")
    ends = silence.add_mutually_exclusive_group()
    ends.add_argument("--duration", help="how long, such as 90m or 2h (default: the "
                      "daemon's default_duration)")
    ends.add_argument("--ends-at", type=_time, help="end: ISO 8601 with an offset, or Unix "
                      "seconds")
    silence.add_argument("--starts-at", type=_time,
                         help="start: ISO 8601 with an offset, or Unix seconds (default now)")
    _add_by(silence)


def _add_history(verbs: Any, common: argparse.ArgumentParser) -> None:
    history = verbs.add_parser(
        "history", parents=[common],
        help="the history of one alert (oldest first), or of all alerts (newest first)")
    history.add_argument("fingerprint", nargs="?", help="the alert's fingerprint or its first "
                         "digits; without it, every entry")
    history.add_argument("--limit", type=int, default=None, help="entries at most (1 to 1000)")
    history.add_argument("--before", type=int, help="without FINGERPRINT: entries with an id "
                         "below this one, to page back")
    history.add_argument("--kind", help="without FINGERPRINT: one kind, such as alert.firing, "
                         "or a family ending in a dot, such as notification.")


def _add_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", default=_login_name(),
                        help="who does this, for the history (default: your login name)")


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: must be above 0")
    return value


def _time(text: str) -> str | float:
    """Pass ISO 8601 on as text (the daemon checks it); send Unix seconds as a number."""
    try:
        return float(text)
    except ValueError:
        return text


def _connection(args: argparse.Namespace) -> Connection:
    token = None
    if args.verb in WRITE_VERBS:
        if args.token_file is None:
            raise CliError(f"missing the API token: give --token-file FILE or set "
                           f"${TOKEN_FILE_VARIABLE}", EXIT_USAGE)
        token = _read_secret(args.token_file, "token file")
    basic_auth = None
    if args.user is not None:
        if ":" in args.user:
            raise CliError(f"invalid --user {args.user!r}: basic auth user names cannot "
                           "contain ':' (RFC 7617)", EXIT_USAGE)
        if args.password_file is None:
            raise CliError("missing the basic auth password: give --password-file FILE with "
                           "--user", EXIT_USAGE)
        password = _read_secret(args.password_file, "password file")
        encoded = base64.b64encode(f"{args.user}:{password.reveal().decode()}".encode())
        basic_auth = Secret(b"Basic " + encoded)
    return Connection(url=args.url.rstrip("/"), token=token, basic_auth=basic_auth,
                      ssl=_ssl(args), timeout=args.timeout)


def _read_secret(path: Path, what: str) -> Secret:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read the {what} {path}: {reason}", EXIT_USAGE) from None
    if not value:
        raise CliError(f"the {what} {path} is empty", EXIT_USAGE)
    return Secret(value)


def _ssl(args: argparse.Namespace) -> ssl.SSLContext | bool:
    if args.insecure:
        return False
    if args.cacert is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(args.cacert))
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot load the CA certificates {args.cacert}: {exc}",
                       EXIT_USAGE) from None


# Requests


async def request(connection: Connection, method: str, path: str, *,
                  params: Sequence[tuple[str, str]] = (), body: Any = None,
                  write: bool = False) -> Any:
    """Send one request to the API and return its JSON document; raise CliError on failure.

    A write sends the bearer token. A read sends the basic auth credentials when given, else
    the token when there is one.
    """
    headers = {"Accept": "application/json"}
    basic_auth = None if write else connection.basic_auth
    if basic_auth is not None:
        headers["Authorization"] = basic_auth.reveal().decode()
    elif connection.token is not None:
        headers["Authorization"] = f"Bearer {connection.token.reveal().decode()}"
    timeout = aiohttp.ClientTimeout(total=connection.timeout)
    url = f"{connection.url}{API}{path}"
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.request(
                method, url, params=list(params), json=body, headers=headers,
                ssl=connection.ssl) as response:
            text = await response.text()
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as exc:
        raise CliError(f"cannot reach the daemon at {connection.url}: {_reason(exc)}; check "
                       "--url and that `snmpd-ng run` is running", EXIT_UNREACHABLE) from None
    document = _json(text)
    if status >= 400:
        raise _failure(status, document, text)
    return document


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _failure(status: int, document: Any, text: str) -> CliError:
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        message = document["error"]
    else:
        # Basic auth's 401 and a proxy's error page are plain text.
        message = text.strip().splitlines()[0] if text.strip() else "no message"
    if status == 404:
        code = EXIT_NOT_FOUND
    elif status in (401, 403):
        code = EXIT_AUTH
    else:
        code = EXIT_API_ERROR
    return CliError(f"{message} (HTTP {status})", code)


def _segment(text: str) -> str:
    return quote(text, safe="")


# Verbs


Verb = Callable[[argparse.Namespace, Connection, Streams], Awaitable[int]]


async def _list(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    params = [(name, value) for name in ("state", "severity", "rule", "target", "filter")
              for value in getattr(args, name)]
    document = await request(connection, "GET", "/alerts", params=params)
    _print(streams, args, document, lambda: tables.alerts_table(document["alerts"]))
    return EXIT_OK


async def _show(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    document = await request(connection, "GET", f"/alerts/{_segment(args.fingerprint)}")
    _print(streams, args, document, lambda: tables.alert_detail(document["alert"]))
    return EXIT_OK


async def _ack(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    body = {"by": _by(args), "comment": args.comment}
    document = await request(connection, "POST", f"/alerts/{_segment(args.fingerprint)}/ack",
                             body=body, write=True)
    _print(streams, args, document, lambda: tables.acknowledged(document))
    return EXIT_OK


async def _ack_group(args: argparse.Namespace, connection: Connection,
                     streams: Streams) -> int:
    body = {"group_key": args.group_key, "by": _by(args), "comment": args.comment}
    document = await request(connection, "POST", "/groups/ack", body=body, write=True)
    _print(streams, args, document, lambda: tables.group_acknowledged(document))
    return EXIT_OK


async def _silence(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    body = {"matchers": args.matchers, "comment": args.comment, "created_by": _by(args),
            "starts_at": args.starts_at, "ends_at": args.ends_at, "duration": args.duration}
    document = await request(connection, "POST", "/silences", body=body, write=True)
    _print(streams, args, document, lambda: tables.silence_line("created", document["silence"]))
    return EXIT_OK


async def _silences(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    params = [("state", "all" if args.all else "pending,active")]
    document = await request(connection, "GET", "/silences", params=params)
    _print(streams, args, document, lambda: tables.silences_table(document["silences"]))
    return EXIT_OK


async def _expire(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    document = await request(connection, "DELETE", f"/silences/{_segment(args.silence_id)}",
                             params=[("by", _by(args))], write=True)
    _print(streams, args, document, lambda: tables.silence_line("expired", document["silence"]))
    return EXIT_OK


async def _history(args: argparse.Namespace, connection: Connection, streams: Streams) -> int:
    params = [("limit", str(args.limit))] if args.limit is not None else []
    if args.fingerprint is not None:
        if args.before is not None or args.kind is not None:
            raise CliError("--before and --kind apply to the whole history; leave out "
                           "FINGERPRINT or those options", EXIT_USAGE)
        path = f"/alerts/{_segment(args.fingerprint)}/history"
    else:
        path = "/history"
        params += [(name, str(value)) for name, value in
                   (("before", args.before), ("kind", args.kind)) if value is not None]
    document = await request(connection, "GET", path, params=params)
    _print(streams, args, document, lambda: tables.history_table(document["entries"]))
    if not args.json and document.get("next_before") is not None:
        streams.err.write(f"More entries: add --before {document['next_before']}\n")
    return EXIT_OK


def _by(args: argparse.Namespace) -> str:
    if not args.by:
        raise CliError("missing --by NAME: the login name is unknown, so say who does this",
                       EXIT_USAGE)
    return str(args.by)


def _print(streams: Streams, args: argparse.Namespace, document: Any,
           render: Callable[[], str]) -> None:
    if args.json:
        streams.out.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        streams.out.write(render())


_VERBS: dict[str, Verb] = {
    "list": _list, "show": _show, "ack": _ack, "ack-group": _ack_group, "silence": _silence,
    "silences": _silences, "expire": _expire, "history": _history,
}
