"""The gufo-snmp User of an SNMPv3 security profile, shared by its two runners."""

from __future__ import annotations

from common import Settings
from gufo.snmp import Aes128Key, Aes256Key, Sha256Key, Sha512Key, User
from gufo.snmp.user import BaseAuthKey, BasePrivKey
from security import PROFILES_BY_KEY

SECURITIES = frozenset(PROFILES_BY_KEY)

# gufo-snmp's key classes by net-snmp's spelling. Its AES-256 extends a short key as the
# Blumenthal draft does (KeyExpansion.Blumenthal, the default), as net-snmp's AES-256 does.
AUTH_KEYS: dict[str, type[BaseAuthKey]] = {"SHA-256": Sha256Key, "SHA-512": Sha512Key}
PRIV_KEYS: dict[str, type[BasePrivKey]] = {"AES": Aes128Key, "AES-256": Aes256Key}


def session_options(settings: Settings) -> dict[str, object]:
    """Return the SnmpSession keywords that select SNMPv2c or the SNMPv3 user."""
    profile, passphrases = settings.security, settings.passphrases
    if not profile.is_v3 or passphrases is None:
        return {"community": settings.community}
    user = User(profile.user,
                auth_key=AUTH_KEYS[profile.auth_protocol](passphrases.auth.encode()),
                priv_key=PRIV_KEYS[profile.priv_protocol](passphrases.priv.encode()))
    return {"user": user}
