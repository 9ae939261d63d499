"""Localised keys, derived once per user and engine ID and kept (RFC 3414 2.6).

Password to key hashes one mebibyte, about 2 ms of CPU; a poller that derived it per request would
spend its time there. Master keys are cached by protocol and passphrase, localised keys by the
user's identity and the engine ID.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

from snmpd_ng.security.credentials import KeyKind, SecurityLevel, UsmUser
from snmpd_ng.security.keys import (
    PRIV_KEY_LENGTHS,
    AuthProtocol,
    PrivProtocol,
    extend_key_blumenthal,
    extend_key_reeder,
    localize_key,
    password_to_key,
)
from snmpd_ng.security.usm import LocalizedKeys

_K = TypeVar("_K")
_V = TypeVar("_V")

_REEDER = frozenset({PrivProtocol.AES192C, PrivProtocol.AES256C})

# Entries kept of each kind; the oldest is dropped first. A daemon with 10,000 targets of one
# user keeps one master key and one localised key per engine ID.
DEFAULT_CAPACITY = 65536


class KeyCache:
    """Derive and keep localised keys. Not thread-safe; one per manager."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._master: OrderedDict[tuple[AuthProtocol, bytes], bytes] = OrderedDict()
        self._localized: OrderedDict[tuple[tuple[object, ...], bytes], LocalizedKeys] = (
            OrderedDict())
        self.derivations = 0
        """Passphrases run through password to key: a steady poller stops counting up."""

    def keys(self, user: UsmUser, engine_id: bytes) -> LocalizedKeys | None:
        """Return the user's keys localised to `engine_id`, or None at noAuthNoPriv."""
        if user.security_level is SecurityLevel.NO_AUTH_NO_PRIV:
            return None
        key = (user.identity, engine_id)
        found = self._localized.get(key)
        if found is None:
            found = self._remember(self._localized, key, self._derive(user, engine_id))
        return found

    def _derive(self, user: UsmUser, engine_id: bytes) -> LocalizedKeys:
        protocol = user.auth_protocol
        assert protocol is not None and user.auth_key is not None
        auth_key = self._localize(protocol, user.auth_key.reveal(), user.auth_key_kind,
                                  engine_id)
        priv_protocol, priv_key = user.priv_protocol, b""
        if user.encrypts and priv_protocol is not None and user.priv_key is not None:
            priv_key = self._localize(protocol, user.priv_key.reveal(), user.priv_key_kind,
                                      engine_id)
            if user.priv_key_kind is not KeyKind.LOCALIZED:
                priv_key = _extend(protocol, priv_protocol, priv_key, engine_id)
        else:
            priv_protocol = None
        return LocalizedKeys(protocol, auth_key, priv_protocol, priv_key)

    def _localize(self, protocol: AuthProtocol, secret: bytes, kind: KeyKind,
                  engine_id: bytes) -> bytes:
        if kind is KeyKind.LOCALIZED:
            return secret
        master = secret if kind is KeyKind.MASTER else self._master_key(protocol, secret)
        return localize_key(protocol, master, engine_id)

    def _master_key(self, protocol: AuthProtocol, passphrase: bytes) -> bytes:
        key = (protocol, passphrase)
        found = self._master.get(key)
        if found is None:
            self.derivations += 1
            found = self._remember(self._master, key, password_to_key(protocol, passphrase))
        return found

    def _remember(self, table: OrderedDict[_K, _V], key: _K, value: _V) -> _V:
        table[key] = value
        if len(table) > self._capacity:
            table.popitem(last=False)
        return value


def _extend(protocol: AuthProtocol, priv_protocol: PrivProtocol, localized: bytes,
            engine_id: bytes) -> bytes:
    """Lengthen a localised privacy key to what the cipher needs (AES-192 and AES-256)."""
    length = PRIV_KEY_LENGTHS[priv_protocol]
    if len(localized) >= length:
        return localized[:length]
    if priv_protocol in _REEDER:
        return extend_key_reeder(protocol, localized, engine_id, length)
    return extend_key_blumenthal(protocol, localized, length)
