"""Error codes (protocol.md section 6) and the exceptions of the host package.

Two kinds of failure, as in h11: the *remote* side broke the rules
(:class:`ProtocolError`, never escapes a station: it becomes an ERROR event and
maybe an ERROR frame) or the *local* caller did (:class:`UsageError`, raised to
the caller). Bad configuration raises ``ValueError``.
"""

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    MALFORMED = 1
    BAD_VERSION = 2
    BAD_SUITE = 3
    BAD_TYPE = 4
    UNEXPECTED = 5
    UNKNOWN_SESSION = 6
    UNKNOWN_PEER = 7
    AUTH_FAILED = 8
    BAD_PROOF = 9
    SRK_EXPIRED = 10
    BUSY = 11
    REPLAY = 12
    KEYS_EXHAUSTED = 13
    TIMEOUT = 14
    RNG_FAILURE = 15
    BAD_KEY_INDEX = 16
    TOO_LONG = 17
    NOT_PAIRED = 18
    REPLACED = 19
    NOT_READY = 20
    WRONG_CODE = 21  # 15.6; suite 3: the user's secrets differ (15.10)
    NOT_ARMED = 22
    BACKOFF = 23  # too many failed attempts: refused until the back-off ends


def code_name(code: int) -> str:
    """Name of a code, or ``CODE_<n>`` for a value section 6 does not define."""
    try:
        return Code(code).name
    except ValueError:
        return "CODE_%d" % code


class ProtocolError(Exception):
    """A received frame fails a check.

    ``field`` names the offending field (``wire`` field names, plus ``length``
    and ``header``); ``sid`` is the sid the ERROR event carries; ``answer``
    False suppresses the ERROR frame where the spec says nothing is sent even
    though the frame is a REQ or PROOF (a REQ repeating an established
    handshake's ``n_s``, 4.2 step 1).
    """

    def __init__(self, code: Code, field: str = "", sid: int = 0, answer: bool = True):
        super().__init__("%s (%s)" % (code.name, field or "-"))
        self.code = code
        self.field = field
        self.sid = sid
        self.answer = answer


class UsageError(Exception):
    """The local caller asked for something the protocol does not allow."""

    def __init__(self, code: Code, message: str):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code


# Not a spec code (section 6 defines 0..22): the link under a session was
# lost. Name and value as the firmware's API (ephkey/session.py).
LINK_LOST = 255


class SessionError(Exception):
    """A session of the application API (``api.py``) ended, or could not start.

    ``code`` is the spec's code (section 6): the reason of the CLOSE that
    ended it (``Code.OK`` for a normal close by either side), of a failed
    handshake (``TIMEOUT``, ``UNKNOWN_PEER``, ...), or :data:`LINK_LOST`
    (255, a local code above the spec's) when the link went away. ``name`` is
    the code's name, ``hint`` what to do about it (may be empty).
    """

    def __init__(self, code: int, message: str = "", hint: str = ""):
        self.code = code
        self.name = "LINK_LOST" if code == LINK_LOST else code_name(code)
        self.hint = hint
        text = self.name + (": " + message if message else "")
        super().__init__(text + (" (" + hint + ")" if hint else ""))


class RngError(Exception):
    """Raised by an RNG callable whose health test failed (``RNG_FAILURE``)."""
