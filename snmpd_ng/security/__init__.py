"""User-based Security Model (RFC 3414) building blocks: keys, authentication and privacy.

Sans-IO like the protocol layer: no sockets, clock or logging. Salts and engine times are passed in.
"""
