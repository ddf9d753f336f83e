"""Error codes of docs/protocol.md section 6: on the wire in ERROR and CLOSE
frames, and in ERROR / CLOSED / HANDSHAKE_FAILED events."""

from micropython import const

OK = const(0)
MALFORMED = const(1)
BAD_VERSION = const(2)
BAD_SUITE = const(3)
BAD_TYPE = const(4)
UNEXPECTED = const(5)
UNKNOWN_SESSION = const(6)
UNKNOWN_PEER = const(7)
AUTH_FAILED = const(8)
BAD_PROOF = const(9)
SRK_EXPIRED = const(10)
BUSY = const(11)
REPLAY = const(12)
KEYS_EXHAUSTED = const(13)
TIMEOUT = const(14)
RNG_FAILURE = const(15)
BAD_KEY_INDEX = const(16)
TOO_LONG = const(17)
NOT_PAIRED = const(18)
REPLACED = const(19)
NOT_READY = const(20)
WRONG_CODE = const(21)  # 15.6: key confirmation failed (suite 3: the user's secrets differ)
NOT_ARMED = const(22)
BACKOFF = const(23)  # too many failed attempts: refused until the back-off ends

NAMES = (
    "OK", "MALFORMED", "BAD_VERSION", "BAD_SUITE", "BAD_TYPE", "UNEXPECTED",
    "UNKNOWN_SESSION", "UNKNOWN_PEER", "AUTH_FAILED", "BAD_PROOF",
    "SRK_EXPIRED", "BUSY", "REPLAY", "KEYS_EXHAUSTED", "TIMEOUT",
    "RNG_FAILURE", "BAD_KEY_INDEX", "TOO_LONG", "NOT_PAIRED", "REPLACED", "NOT_READY",
    "WRONG_CODE", "NOT_ARMED", "BACKOFF",
)


class ProtocolError(Exception):
    """A local call that breaks the rules (e.g. send on no session)."""

    def __init__(self, code, msg=""):
        super().__init__(code, msg)
        self.code = code
