"""Events a station reports (protocol.md section 7)."""

from typing import Any, NamedTuple

ESTABLISHED = "ESTABLISHED"
DATA = "DATA"
ROTATED = "ROTATED"
CLOSED = "CLOSED"
HANDSHAKE_FAILED = "HANDSHAKE_FAILED"
ERROR = "ERROR"
PEER_ERROR = "PEER_ERROR"
DROPPED = "DROPPED"
BACKOFF = "BACKOFF"  # suite 3 (15.10): failed attempts started a back-off (arg: ms)

NAMES = (ESTABLISHED, DATA, ROTATED, CLOSED, HANDSHAKE_FAILED, ERROR, PEER_ERROR, DROPPED,
         BACKOFF)


class Event(NamedTuple):
    """``arg``: frames lost before it for DATA, the new key index for ROTATED
    (0 for ESTABLISHED), the frame type for DROPPED (4.8), the delay in ms for
    BACKOFF (15.10), else an error/reason code. ``payload`` only for DATA."""

    name: str
    sid: int
    arg: int = 0
    payload: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.name, "sid": self.sid, "arg": self.arg}
        if self.name == DATA:
            out["payload"] = (self.payload or b"").hex()
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Event":
        payload = bytes.fromhex(obj["payload"]) if "payload" in obj else None
        return cls(obj["event"], int(obj["sid"]), int(obj["arg"]), payload)
