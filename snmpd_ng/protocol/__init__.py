"""The sans-IO SNMP protocol layer: values, OIDs, BER, PDUs and v1/v2c messages.

Bytes go in and a message or one typed error comes out; nothing here does I/O, reads the clock
or logs. docs/protocol.md describes what the codec sends, accepts and rejects.
"""
