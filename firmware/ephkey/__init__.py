"""ephkey: ephemeral key establishment for MicroPython boards.

The protocol is in docs/protocol.md. Modules, one concern each:
wire (frame layout), errors (codes), events (event queue), outq (frames
waiting to be sent), config (station settings, checked), srk_ring (the
circular buffer of session random keys), sessions (the first station's
session table), channel (protected frames), first and second (the two roles),
crypto (AES-CCM, HKDF, HMAC, key wrap on cryptolib and hashlib).
"""

__version__ = "0.1.0"
