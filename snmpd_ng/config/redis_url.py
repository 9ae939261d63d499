"""The Redis URL of the `cluster.redis.url` key: which forms the config accepts, and why.

redis-py (8.2, `parse_url` and `ConnectionPool.from_url`) reads a URL as
`redis://[user@]host[:port][/db]`, `rediss://...` (TLS) or `unix:///path/to/socket[?db=N]`. It
turns every query parameter into a keyword argument of the connection, which then wins over the
daemon's own settings. So a password in the URL, as userinfo or as `?password=`, is rejected:
the URL appears in logs and `cluster status`, and the `password` key keeps the secret out of
both. Query parameters that would replace another key of the section (user name, timeouts) are
rejected too, so that each setting has one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

SCHEMES = ("redis", "rediss", "unix")
_DIGITS = re.compile(r"[0-9]+")

_REPLACED_BY_KEY = {
    "username": "username",
    "socket_timeout": "command_timeout",
    "timeout": "command_timeout",
    "socket_connect_timeout": "connect_timeout",
}
"""Query parameters of redis-py that the section sets with its own key, and that key."""

_PASSWORD_MESSAGE = (
    "invalid url: it contains a password, which would appear wherever the url is shown (logs, "
    "`snmpd-ng cluster status`); remove it from the url and set `password`, for example "
    "`password: {env: SNMPD_NG_REDIS_PASSWORD}`"
)


@dataclass(frozen=True, slots=True)
class RedisUrl:
    """The parts of a valid Redis URL that the config checks against its other keys."""

    scheme: str
    """redis, rediss or unix, in lower case."""
    username: str | None
    db: int | None
    """The database in the path (redis, rediss) or in `?db=`; None when the URL gives none."""


def parse_redis_url(text: str) -> RedisUrl:
    """Check a Redis URL and return its parts; raise ValueError with the reason and the fix.

    Messages show the URL only once it is known to hold no password.
    """
    parts = urlsplit(text)
    query = parse_qs(parts.query, keep_blank_values=True)
    if parts.password is not None or "password" in query:
        raise ValueError(_PASSWORD_MESSAGE)

    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not text.lower().startswith(f"{scheme}://"):
        raise ValueError(
            f"invalid url {text!r}: expected redis://HOST[:PORT][/DB], rediss://... for TLS, "
            "or unix:///PATH/TO/SOCKET"
        )
    _check_query(text, query)

    query_db = _query_db(text, query)
    if scheme == "unix":
        _check_socket_path(text, parts)
        path_db = None
    else:
        _check_host_port(text, parts)
        path_db = _path_db(text, parts.path)

    username = unquote(parts.username) if parts.username else None
    # redis-py takes `?db=` over the path, so the URL's database is the query's when both exist.
    return RedisUrl(scheme, username, query_db if query_db is not None else path_db)


def has_valid_port(parts: SplitResult) -> bool:
    """Tell whether the URL has no port or a port from 1 to 65535."""
    try:
        port = parts.port  # raises ValueError for text or for a number above 65535
    except ValueError:
        return False
    return port != 0


def _check_query(text: str, query: dict[str, list[str]]) -> None:
    for name, key in _REPLACED_BY_KEY.items():
        if name in query:
            raise ValueError(
                f"invalid url {text!r}: remove the query parameter {name!r} and set `{key}` "
                "in this section instead"
            )


def _query_db(text: str, query: dict[str, list[str]]) -> int | None:
    values = query.get("db")
    if values is None:
        return None
    if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
        raise ValueError(f"invalid url {text!r}: `db` in the query must be one whole number "
                         "such as ?db=0")
    return int(values[0])


def _check_socket_path(text: str, parts: SplitResult) -> None:
    # redis-py reads only the path of a unix:// URL, so in unix://run/redis.sock it would
    # silently drop "run" as a host name.
    if parts.hostname:
        raise ValueError(f"invalid url {text!r}: a unix:// url has no host; write the socket "
                         "path after three slashes, such as unix:///run/redis/redis.sock")
    # A relative path would be read from the daemon's working directory, which is rarely the
    # config file's folder.
    if not parts.path.startswith("/"):
        raise ValueError(f"invalid url {text!r}: a unix:// url needs an absolute socket path, "
                         "such as unix:///run/redis/redis.sock")


def _check_host_port(text: str, parts: SplitResult) -> None:
    if not parts.hostname:
        raise ValueError(f"invalid url {text!r}: missing host; expected redis://HOST[:PORT][/DB] "
                         "such as redis://127.0.0.1:6379/0")
    if not has_valid_port(parts):
        raise ValueError(f"invalid url {text!r}: the port must be a number from 1 to 65535")


def _path_db(text: str, path: str) -> int | None:
    number = path.removeprefix("/")
    if not number:
        return None
    if not _DIGITS.fullmatch(number):
        raise ValueError(f"invalid url {text!r}: the path must be a database number, such as "
                         "the 0 of redis://127.0.0.1:6379/0")
    return int(number)
