"""Station configuration and pairing material (protocol.md sections 4.1, 8, 11).

``out_queue`` of F defaults to ``sessions + 4`` (section 11): 0 in the
constructor means that default, and the object holds the number.

Constructors validate like section 4.1 says: anything outside the rules raises
``ValueError`` naming the parameter. Field names are the keys of the vector
files (tests/vectors/README.md).

``suites`` (F: the suites it accepts) and ``offer`` (S: the suites it offers)
default to both suites, 2 and 1 (3.9: suite 2 is the default; F picks the
highest common one). The order of the list means nothing. Suite 3 (15.10) is
accepted by F only when ``suites`` lists it, and only from an ``id_s`` whose
record has ``user``; S offers it alone (``offer`` [3]), with a ``user`` record.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from . import wire


def _int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("%s must be an int" % name)
    if value < lo or (hi is not None and value > hi):
        bound = "%d..%d" % (lo, hi) if hi is not None else ">= %d" % lo
        raise ValueError("%s=%r out of range (%s)" % (name, value, bound))


def _suites(name: str, suites: list[int]) -> None:
    if not suites:
        raise ValueError("%s must not be empty" % name)
    for s in suites:
        if s not in wire.IMPLEMENTED_SUITES:
            raise ValueError("%s: suite %r is not implemented" % (name, s))


# CCM's 2-byte length field bounds a plaintext to 65535 bytes.
MAX_PAYLOAD_LIMIT = 0xFFFF


@dataclass(frozen=True)
class FirstConfig:
    interval_ms: int = 10_000
    lifetime_ms: int = 20_000
    m: int = 3
    ring_slots: int = 8
    sessions: int = 8
    idrks: int = 4
    rotate_frames: int = 64
    rotate_ms: int = 600_000
    rekey_retry_ms: int = 1_000
    rekey_tries: int = 4
    idle_ms: int = 300_000
    confirm_ms: int = 10_000
    peer_sessions: int = 1
    proof_tries: int = 3
    out_queue: int = 0  # 0: the default, sessions + 4
    max_payload: int = 256
    suites: list[int] = field(default_factory=lambda: [2, 1])

    def __post_init__(self) -> None:
        if self.out_queue == 0 and isinstance(self.sessions, int):
            object.__setattr__(self, "out_queue", self.sessions + 4)
        _int("m", self.m, 1, 10)
        _int("lifetime_ms", self.lifetime_ms, 1, 89_999)
        _int("interval_ms", self.interval_ms, 1)
        if self.interval_ms + self.lifetime_ms > self.m * self.lifetime_ms:
            raise ValueError("interval_ms + lifetime_ms must be <= m * lifetime_ms "
                             "(interval_ms=%d)" % self.interval_ms)
        _int("ring_slots", self.ring_slots, self.min_ring_slots(), 255)
        _int("sessions", self.sessions, 1, 255)
        _int("idrks", self.idrks, 1, 255)
        _int("rotate_frames", self.rotate_frames, 1)
        _int("rotate_ms", self.rotate_ms, 1)
        _int("rekey_retry_ms", self.rekey_retry_ms, 1)
        _int("rekey_tries", self.rekey_tries, 1)
        _int("idle_ms", self.idle_ms, 1)
        _int("confirm_ms", self.confirm_ms, 1, self.idle_ms - 1)
        _int("peer_sessions", self.peer_sessions, 1, self.sessions)
        _int("proof_tries", self.proof_tries, 1, 255)
        _int("out_queue", self.out_queue, 1)
        _int("max_payload", self.max_payload, 0, MAX_PAYLOAD_LIMIT)
        _suites("suites", self.suites)

    def min_ring_slots(self) -> int:
        return -(-(self.m * self.lifetime_ms) // self.interval_ms) + 1

    def longest_timer(self) -> int:
        return max(self.m * self.lifetime_ms, self.interval_ms, self.rotate_ms,
                   self.rekey_retry_ms, self.idle_ms)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "FirstConfig":
        return cls(**obj)


@dataclass(frozen=True)
class SecondConfig:
    retry_ms: int = 1_000
    max_tries: int = 5
    out_queue: int = 4
    max_payload: int = 256
    offer: list[int] = field(default_factory=lambda: [2, 1])

    def __post_init__(self) -> None:
        _int("retry_ms", self.retry_ms, 1)
        _int("max_tries", self.max_tries, 1)
        _int("out_queue", self.out_queue, 1)
        _int("max_payload", self.max_payload, 0, MAX_PAYLOAD_LIMIT)
        _suites("offer", self.offer)
        if 3 in self.offer and list(self.offer) != [3]:
            raise ValueError("offer: suite 3 is offered alone (15.10), not with %r" % self.offer)

    def longest_timer(self) -> int:
        return self.retry_ms

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "SecondConfig":
        return cls(**obj)


USER_MIN, USER_MAX = 8, 64  # a suite-3 user secret's length in bytes (15.10, 9.4)


def user_secret(secret: str | bytes) -> bytes:
    """The user's secret as CPace's PRS (15.10): 8 to 64 bytes; a str is taken
    as UTF-8. ValueError otherwise."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not USER_MIN <= len(raw) <= USER_MAX:
        raise ValueError("a user secret is %d to %d bytes, not %d" % (USER_MIN, USER_MAX, len(raw)))
    return raw


@dataclass(frozen=True)
class Pairing:
    """One pair's record: identities of 8 bytes and either PS (16 to 32 bytes,
    suites 1 and 2) or, for suite 3 (15.10), ``user``: at F the user's secret
    (8 to 64 bytes), at S ``b""`` (S stores no secret: the user gives it at
    ``connect``). JSON: ``"ps": hex`` or ``"user": hex`` (F) / ``true`` (S)."""

    id_f: bytes
    id_s: bytes
    ps: bytes = b""
    user: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.id_f) != 8:
            raise ValueError("id_f must be 8 bytes")
        if len(self.id_s) != 8:
            raise ValueError("id_s must be 8 bytes")
        if self.user is not None:
            if self.ps:
                raise ValueError("a pairing record has either ps or user, not both")
            if self.user:
                user_secret(self.user)
        elif not 16 <= len(self.ps) <= 32:
            raise ValueError("ps must be 16 to 32 bytes")

    @property
    def is_user(self) -> bool:
        """A suite-3 record (15.10)."""
        return self.user is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id_f": self.id_f.hex(), "id_s": self.id_s.hex()}
        if self.user is None:
            out["ps"] = self.ps.hex()
        else:
            out["user"] = self.user.hex() if self.user else True
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Pairing":
        ids = bytes.fromhex(obj["id_f"]), bytes.fromhex(obj["id_s"])
        if "user" in obj:
            user = obj["user"]
            return cls(*ids, user=b"" if user is True else bytes.fromhex(user))
        return cls(*ids, bytes.fromhex(obj["ps"]))

    def for_second(self) -> "Pairing":
        """S's copy of this record: a suite-3 record without the secret."""
        return Pairing(self.id_f, self.id_s, user=b"") if self.is_user else self
