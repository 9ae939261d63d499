"""The security settings a benchmark run compares: SNMPv2c, and SNMPv3 authPriv with two suites.

bench/v3_run.py creates one USM user per SNMPv3 profile in the bench agent's snmpd.conf, and each
runner (`--security KEY`) polls as that user. The passphrases are drawn anew for every run and
reach the runners through the environment, so they are not visible in `ps`. Every user of a run
has the same two.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

AUTH_PASSPHRASE_VARIABLE = "BENCH_AUTH_PASSPHRASE"
PRIV_PASSPHRASE_VARIABLE = "BENCH_PRIV_PASSPHRASE"


@dataclass(frozen=True, slots=True)
class SecurityProfile:
    """One column of the SNMPv3 tables: SNMPv2c, or an authPriv user with its protocols."""

    key: str
    """The runners' `--security` value."""
    label: str
    user: str = ""
    """USM user name; empty for SNMPv2c."""
    auth_protocol: str = ""
    """net-snmp's spelling (`-a`), which snmpd_ng's AuthProtocol values also use."""
    priv_protocol: str = ""
    """net-snmp's spelling (`-x`); AES-256 extends the key as the Blumenthal draft does."""

    @property
    def is_v3(self) -> bool:
        return bool(self.user)


V2C = SecurityProfile("v2c", "SNMPv2c")
SHA256_AES128 = SecurityProfile("sha256-aes128", "SHA-256 + AES-128", "bench_sha256_aes128",
                                "SHA-256", "AES")
SHA512_AES256 = SecurityProfile("sha512-aes256", "SHA-512 + AES-256", "bench_sha512_aes256",
                                "SHA-512", "AES-256")
PROFILES = (V2C, SHA256_AES128, SHA512_AES256)
PROFILES_BY_KEY = {profile.key: profile for profile in PROFILES}


@dataclass(frozen=True, slots=True)
class Passphrases:
    """The authentication and privacy passphrases of every bench user. Never printed."""

    auth: str
    priv: str

    def __repr__(self) -> str:
        return "Passphrases(<redacted>)"


def passphrases_from_environment() -> Passphrases:
    """Read the passphrases that bench/v3_run.py put in the environment."""
    missing = [name for name in (AUTH_PASSPHRASE_VARIABLE, PRIV_PASSPHRASE_VARIABLE)
               if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"{' and '.join(missing)} not set; SNMPv3 runners are started by "
                         "bench/v3_run.py, which sets them")
    return Passphrases(os.environ[AUTH_PASSPHRASE_VARIABLE], os.environ[PRIV_PASSPHRASE_VARIABLE])


def passphrase_environment(passphrases: Passphrases) -> dict[str, str]:
    return {AUTH_PASSPHRASE_VARIABLE: passphrases.auth,
            PRIV_PASSPHRASE_VARIABLE: passphrases.priv}


def agent_config_lines(profiles: tuple[SecurityProfile, ...] | list[SecurityProfile],
                       passphrases: Passphrases) -> list[str]:
    """Return the snmpd.conf lines that create each SNMPv3 profile's user, read-only at authPriv."""
    lines = []
    for profile in profiles:
        if not profile.is_v3:
            continue
        lines.append(f"createUser {profile.user} {profile.auth_protocol} {passphrases.auth} "
                     f"{profile.priv_protocol} {passphrases.priv}")
        lines.append(f"rouser {profile.user} priv")
    return lines
