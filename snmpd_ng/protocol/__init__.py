"""The sans-IO SNMP protocol layer: values, OIDs, BER, PDUs and v1/v2c messages.

Bytes go in and a message or one typed error comes out; nothing here does I/O, reads the clock
or logs. docs/protocol.md describes what the codec sends, accepts and rejects.
"""

from importlib.machinery import EXTENSION_SUFFIXES

from snmpd_ng.protocol import ber as _ber

COMPILED: bool = (_ber.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES))
"""True when the codec's hot path (ber, varbinds, message) was compiled with mypyc.

The optional compiled build replaces all three modules at once, so checking ber is enough.
"""

BUILD: str = "mypyc" if COMPILED else "python"
"""Name of the codec build in use, as `snmpd-ng --version` and the build-info metric show it."""
