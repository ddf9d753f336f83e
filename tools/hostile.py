"""A hostile peer: the attacks of the threat model (protocol.md section 9,
version 2), run against a station under test, with the outcome each one must have.

The station under test (the *target*) is either the firmware, run inside
MicroPython by ``tests/firmware/step_driver.py`` (:class:`MpTarget`), or this
package's own stations (:class:`HostTarget`); both answer one step at a time
with the frames they sent and the events they reported (the steps of the
vector files: connect, receive, send, close, poll, prepare, work). Its
legitimate counterpart is always a host station holding the pairing. The
attacker sits on the wire between them: it records every frame (:class:`Duo`),
then replays, reflects, splices, flips bits, forges, downgrades and floods,
and counts what the target did with each frame it injected.

Every attack returns an :class:`Outcome`: how many frames were tried, the
rejection codes seen, the ERROR frames the target answered with, how many
frames were wrongly accepted (any event but ERROR / PEER_ERROR, or any frame
sent that the spec does not allow in answer; must be 0), and whether the
legitimate sessions still worked afterwards. The expected codes come from the
spec (sections 3.2, 3.8, 4.2-4.6, 5.1-5.2); ``expected_code`` is an oracle for
single-bit flips written from section 4.4 alone.

Version 2's own attacks: forged PROOFs for a half-open sid (rejected at ``t``
with no job, the slot freed after ``proof_tries``), zombie sessions (lost KEY
and CLOSE frames must not lock other peers out), and frames reflected,
replayed or spliced into the new states (F's CHECKING and WAIT_CONFIRM, S's
PROVING).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ephkey_host import crypto, keyschedule as ks, wire
from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.drbg import Drbg
from ephkey_host.errors import Code, UsageError
from ephkey_host.events import (
    BACKOFF,
    DATA,
    ERROR,
    ESTABLISHED,
    HANDSHAKE_FAILED,
    PEER_ERROR,
    Event,
)
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation

REPO = Path(__file__).resolve().parents[1]

F2S = "F2S"
S2F = "S2F"

Rng = Callable[[int], bytes]


# --------------------------------------------------------------- targets

class Target:
    """The station under test, driven one step at a time."""

    role = "F"
    name = "?"

    def step(self, op: str, t: int, **kw: Any) -> tuple[list[bytes], list[Event]]:
        raise NotImplementedError

    def receive(self, frame: bytes, t: int) -> tuple[list[bytes], list[Event]]:
        return self.step("receive", t, frame=frame)

    def busy(self) -> bool | None:
        """Whether a job is queued (4.7), when the target can tell; else None."""
        return None

    def close_target(self) -> None:
        pass


class HostTarget(Target):
    """A host station as the target (the reference implementation)."""

    def busy(self) -> bool | None:
        return self.st.busy()

    def __init__(self, role: str, config: dict[str, Any], pairings: list[Pairing],
                 seed: bytes | None = None, t0: int = 0):
        self.role = role
        self.name = "host"
        rng: Rng = Drbg(seed) if seed is not None else os.urandom
        self.st: FirstStation | SecondStation
        if role == "F":
            self.st = FirstStation(FirstConfig(**config), pairings, rng, t0)
        else:
            self.st = SecondStation(SecondConfig(**config), pairings[0], rng, t0)

    def step(self, op: str, t: int, **kw: Any) -> tuple[list[bytes], list[Event]]:
        st = self.st
        if op == "receive":
            st.receive(kw["frame"], t)
        elif op == "connect":
            assert isinstance(st, SecondStation)
            st.connect(t, kw.get("secret"))  # suite 3: the user's secret (15.10)
        elif op == "send":
            if isinstance(st, FirstStation):
                st.send_data(kw["sid"], kw["payload"], t)
            else:
                st.send_data(kw["payload"], t)
        elif op == "close":
            if isinstance(st, FirstStation):
                st.close(kw["sid"], t)
            else:
                st.close(t)
        elif op == "poll":
            st.poll(t)
        elif op == "prepare":
            assert isinstance(st, FirstStation)
            st.prepare(t)
        elif op == "work":
            st.run_jobs(t)
        else:
            raise ValueError(op)
        return st.outputs(), st.events()


class TargetHang(RuntimeError):
    """The station under test did not answer a step in time."""


class MpTarget(Target):
    """The firmware station inside MicroPython (tests/firmware/step_driver.py)."""

    def __init__(self, micropython: str, role: str, config: dict[str, Any],
                 pairings: list[Pairing], seed: bytes | None = None, t0: int = 0,
                 micropypath: str = "firmware:tests/firmware:.frozen", timeout: float = 30):
        self.role = role
        self.name = "firmware"
        self.timeout = timeout
        env = dict(os.environ, MICROPYPATH=micropypath)
        self.p = subprocess.Popen(
            [micropython, "tests/firmware/step_driver.py"], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        pj = [p.to_json() for p in pairings]
        setup: dict[str, Any] = {"role": role, "config": config,
                                 "rng_seed": seed.hex() if seed is not None else None, "t0": t0}
        if role == "F":
            setup["pairings"] = pj
        else:
            setup["pairing"] = pj[0]
        self.steps = 0
        self._busy: bool | None = None
        ready = self._line(setup)
        assert ready.get("ready") == role, ready

    def _line(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()
        # one line answers each step: nothing is buffered past it, so select
        # on the pipe tells a step that never ends (a hang) from a slow one
        if not select.select([self.p.stdout], [], [], self.timeout)[0]:
            self.p.kill()
            raise TargetHang("no answer within %.0f s (step %r)" % (self.timeout, obj))
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("the firmware station died (exit %s)" % self.p.poll())
        reply: dict[str, Any] = json.loads(line)
        if "exception" in reply:
            raise RuntimeError("firmware raised: %s (step %r)" % (reply["exception"], obj))
        return reply

    def step(self, op: str, t: int, **kw: Any) -> tuple[list[bytes], list[Event]]:
        msg: dict[str, Any] = {"op": op, "t": t}
        if "frame" in kw:
            msg["in"] = bytes(kw["frame"]).hex()
        if "payload" in kw:
            msg["payload"] = bytes(kw["payload"]).hex()
        if "sid" in kw:
            msg["sid"] = kw["sid"]
        if kw.get("secret") is not None:
            msg["secret"] = bytes(kw["secret"]).hex()
        self.steps += 1
        r = self._line(msg)
        self._busy = r.get("busy")  # reported by a step driver that knows (4.7)
        return [bytes.fromhex(f) for f in r["out"]], [Event.from_json(e) for e in r["events"]]

    def busy(self) -> bool | None:
        return self._busy

    def close_target(self) -> None:
        if self.p.poll() is None:
            assert self.p.stdin
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


TargetFactory = Callable[[str, dict[str, Any], list[Pairing], "bytes | None"], Target]


# The legitimate host stations speak suite 1 unless an attack says otherwise
# (the suite most targets here are configured for, so that both
# implementations can be compared); the version-2 attacks use suite 2.
HOST_F: dict[str, Any] = {"suites": [1]}
HOST_S: dict[str, Any] = {"offer": [1]}
HOST_F2: dict[str, Any] = {"suites": [2]}
HOST_S2: dict[str, Any] = {"offer": [2]}


def pairing(i: int = 0) -> Pairing:
    return Pairing(b"FIRST-01", b"SECOND%02d" % i, bytes((i * 7 + k) & 0xFF for k in range(16)))


# Suite 3 (15.10): the user's secret, held by F's record and typed at S's connect
USER_SECRET = b"hostile user secret 0042"


def suite_pairing(suite: int, i: int = 0) -> Pairing:
    """Pair i's record for ``suite``: PS (suites 1, 2) or F's ``user`` record (3)."""
    p = pairing(i)
    return Pairing(p.id_f, p.id_s, user=USER_SECRET) if suite == 3 else p


def secret_for(suite: int) -> bytes | None:
    """What the user gives S's connect: the secret for suite 3, else nothing."""
    return USER_SECRET if suite == 3 else None


# ----------------------------------------------------------------- the wire

def ftype(frame: bytes) -> int:
    """The low nibble of byte 0, -1 for an empty frame."""
    return frame[0] & 0x0F if frame else -1


def fsid(frame: bytes) -> int:
    """The sid in bytes 1-2 (0 for REQ or a frame too short)."""
    return wire.error_sid(frame)


def with_sid(frame: bytes, sid: int) -> bytes:
    return frame[:1] + sid.to_bytes(2, "big") + frame[3:]


def is_error_frame(frame: bytes) -> bool:
    return len(frame) == wire.LENGTHS[wire.ERROR] and frame[0] == wire.byte0(wire.ERROR)


# frames after which a station may have a job to run (4.7)
JOB_TYPES = frozenset((wire.REQ, wire.SRK, wire.PROOF))


@dataclass
class Duo:
    """A target and its legitimate host counterpart; the attacker records every
    frame they exchange (``log``: (direction, frame)) and may drop or alter
    frames in flight (``intercept``). Jobs run as an event loop runs them:
    ``work`` after a frame that may have started one."""

    target: Target
    peer: FirstStation | SecondStation
    t: int = 0
    log: list[tuple[str, bytes]] = field(default_factory=list)
    target_events: list[Event] = field(default_factory=list)
    peer_events: list[Event] = field(default_factory=list)
    intercept: Callable[[str, bytes], bytes | None] | None = None
    secret: bytes | None = None  # suite 3: what the user gives S's connect (15.10)

    @property
    def to_target(self) -> str:
        return S2F if self.target.role == "F" else F2S

    @property
    def to_peer(self) -> str:
        return F2S if self.target.role == "F" else S2F

    def _wire(self, direction: str, frame: bytes) -> bytes | None:
        self.log.append((direction, frame))
        return self.intercept(direction, frame) if self.intercept else frame

    def work_target(self) -> list[bytes]:
        o, ev = self.target.step("work", self.t)
        self.target_events += ev
        return o

    def feed_target(self, frames: Iterable[bytes]) -> list[bytes]:
        """Frames to the target (then its jobs); returns what it sent back."""
        out: list[bytes] = []
        jobs = False
        for fr in frames:
            got = self._wire(self.to_target, fr)
            if got is None:
                continue
            o, ev = self.target.receive(got, self.t)
            self.target_events += ev
            out += o
            jobs = jobs or ftype(got) in JOB_TYPES
        if jobs:
            out += self.work_target()
        return out

    def feed_peer(self, frames: Iterable[bytes]) -> list[bytes]:
        for fr in frames:
            got = self._wire(self.to_peer, fr)
            if got is not None:
                self.peer.receive(got, self.t)
        self.peer.run_jobs(self.t)
        self.peer_events += self.peer.events()
        return self.peer.outputs()

    def pump(self, target_out: list[bytes] | None = None) -> None:
        """Carry frames both ways until both sides are quiet."""
        pending_t = list(target_out or [])
        self.peer.run_jobs(self.t)
        pending_p = self.peer.outputs()
        for _ in range(1000):
            if not pending_t and not pending_p:
                return
            pending_p += self.feed_peer(pending_t)
            pending_t = self.feed_target(pending_p)
            pending_p = self.peer.outputs()
        raise RuntimeError("frames ping-pong for ever")

    def target_step(self, op: str, **kw: Any) -> list[Event]:
        out, ev = self.target.step(op, self.t, **kw)
        self.target_events += ev
        if op in ("connect", "prepare"):
            out += self.work_target()
        self.pump(out)
        return ev

    def ready(self) -> None:
        """F's key pairs of this interval and the next made (suite 2; nothing for suite 1)."""
        if self.target.role == "F":
            for _ in range(2):
                self.target_step("prepare")
        else:
            assert isinstance(self.peer, FirstStation)
            while self.peer.prepare(self.t):
                pass
            self.peer.run_jobs(self.t)

    # -- sessions -------------------------------------------------------------

    def handshake(self) -> int:
        """A full handshake; returns the sid. F's session is then WAIT_CONFIRM."""
        self.ready()
        if self.target.role == "F":
            assert isinstance(self.peer, SecondStation)
            self.peer.connect(self.t, self.secret)
            self.pump()
            assert self.peer.state == "OPEN", (self.peer.state, self.peer_events)
            return self.peer.sid
        before = len(self.target_events)
        if self.secret is None:
            self.target_step("connect")
        else:
            self.target_step("connect", secret=self.secret)
        est = [e for e in self.target_events[before:] if e.name == ESTABLISHED]
        assert est, self.target_events[before:]
        return est[-1].sid

    def exchange(self, sid: int, n: int, tag: bytes = b"m") -> None:
        """n payloads each way (S first: that confirms a session at F); checks
        they arrive once and in order."""
        for i in range(n):
            self.t += 1
            up = tag + b" up %d" % i
            down = tag + b" down %d" % i
            before = len(self.target_events)
            if self.target.role == "F":
                assert isinstance(self.peer, SecondStation)
                self.peer.send_data(up, self.t)
                self.pump()
                got = [e.payload for e in self.target_events[before:] if e.name == DATA]
                assert got == [up], (got, self.target_events[before:])
                self.target_step("send", sid=sid, payload=down)
                got = [e.payload for e in self.peer_events if e.name == DATA]
                assert got and got[-1] == down, self.peer_events[-5:]
            else:
                assert isinstance(self.peer, FirstStation)
                self.target_step("send", payload=up)
                got = [e.payload for e in self.peer_events if e.name == DATA]
                assert got and got[-1] == up, self.peer_events[-5:]
                self.peer.send_data(sid, down, self.t)
                self.pump()
                got = [e.payload for e in self.target_events[before:] if e.name == DATA]
                assert got == [down], (got, self.target_events[before:])

    def frames(self, direction: str) -> list[bytes]:
        return [f for d, f in self.log if d == direction]


def make_duo(factory: TargetFactory, role: str, cfg: dict[str, Any] | None = None,
             peer_cfg: dict[str, Any] | None = None, pairings: list[Pairing] | None = None,
             seed: bytes | None = None, peer_index: int = 0,
             peer_seed: bytes | None = None, suite: int = 1) -> Duo:
    """A target and its host counterpart speaking ``suite`` (the host's
    default config: that suite alone); S's side gets S's copy of the records
    (no user secret, 15.10) and the Duo the secret its connect needs."""
    pairs = pairings or [suite_pairing(suite)]
    target = factory(role, cfg or {}, pairs if role == "F" else [p.for_second() for p in pairs],
                     seed)
    peer: FirstStation | SecondStation
    rng: Rng = Drbg(peer_seed) if peer_seed is not None else os.urandom
    if role == "F":
        peer = SecondStation(SecondConfig(**dict({"offer": [suite]}, **(peer_cfg or {}))),
                             pairs[peer_index].for_second(), rng, 0)
    else:
        peer = FirstStation(FirstConfig(**dict({"suites": [suite]}, **(peer_cfg or {}))), pairs,
                            rng, 0)
    return Duo(target, peer, secret=secret_for(suite))


# ------------------------------------------------------------------ outcomes

@dataclass
class Outcome:
    attack: str
    target: str
    tried: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    wrong_accepts: int = 0
    unexpected: list[str] = field(default_factory=list)
    survived: bool = True
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"attack": self.attack, "target": self.target, "tried": self.tried,
                "codes": dict(self.codes), "answers": dict(self.answers),
                "wrong_accepts": self.wrong_accepts, "unexpected": self.unexpected[:10],
                "survived": self.survived, "notes": self.notes}


IGNORED = -1  # a frame the target must neither reject nor accept (a repeat while CHECKING)


def inject(duo: Duo, out: Outcome, frame: bytes, expect: Set[int] | int | None = None,
           answer: bool | None = None, allow_out: Callable[[bytes], bool] | None = None,
           allow_events: Iterable[str] = ()) -> tuple[list[bytes], list[Event]]:
    """One hostile frame to the target: every event must be a rejection (its
    code in ``expect`` when given; ``IGNORED``: no event at all), and the only
    frames the target may send back are ERROR frames (``answer`` True: exactly
    one, False: none) or frames ``allow_out`` accepts."""
    got, evs = duo.target.receive(frame, duo.t)
    out.tried += 1
    allowed = {ERROR, PEER_ERROR, *allow_events}
    exp = {expect} if isinstance(expect, int) else expect
    if exp == {IGNORED}:
        if evs or got:
            out.unexpected.append("%s: expected to be ignored, got %r %s" % (
                _type_name(frame), evs, [f.hex() for f in got]))
        return got, evs
    for e in evs:
        if e.name == ERROR:
            out.codes[_name(e.arg)] += 1
            if exp is not None and e.arg not in exp:
                out.unexpected.append("%s: code %s, expected %s (%s)" % (
                    _type_name(frame), _name(e.arg), "/".join(_name(c) for c in exp), frame.hex()))
        elif e.name == PEER_ERROR:
            out.codes["PEER_ERROR"] += 1
        if e.name not in allowed:
            out.wrong_accepts += 1
            out.unexpected.append("%s accepted: %r" % (_type_name(frame), e))
    errors_out = [f for f in got if is_error_frame(f)]
    for f in errors_out:
        out.answers[_name(f[3])] += 1
    others = [f for f in got if f not in errors_out and not (allow_out and allow_out(f))]
    if others:
        out.wrong_accepts += len(others)
        out.unexpected.append("%s made the target send %s" % (
            _type_name(frame), [o.hex() for o in others]))
    if answer is True and len(errors_out) != 1:
        out.unexpected.append("%s: %d ERROR frames, expected 1" % (_type_name(frame),
                                                                     len(errors_out)))
    if answer is False and errors_out:
        out.unexpected.append("%s: answered %s, expected no answer" % (
            _type_name(frame), [f.hex() for f in errors_out]))
    return got, evs


def holder(held: list[bytes], direction: str, type_: int,
           once: bool = True) -> Callable[[str, bytes], bytes | None]:
    """An intercept that keeps frames of ``type_`` going ``direction`` off the
    wire (the first one only, with ``once``) and lets the rest through."""
    def hold(d: str, fr: bytes) -> bytes | None:
        if d == direction and ftype(fr) == type_ and not (once and held):
            held.append(fr)
            return None
        return fr
    return hold


def dropper(direction: str, types: Iterable[int]) -> Callable[[str, bytes], bytes | None]:
    """An intercept that loses every frame of ``types`` going ``direction``."""
    lost = frozenset(types)

    def drop(d: str, fr: bytes) -> bytes | None:
        return None if d == direction and ftype(fr) in lost else fr
    return drop


def _name(code: int) -> str:
    try:
        return Code(code).name
    except ValueError:
        return "CODE_%d" % code


def _type_name(frame: bytes) -> str:
    if not frame:
        return "empty frame"
    return wire.TYPE_NAMES.get(ftype(frame), "type%d" % ftype(frame))


def check_alive(duo: Duo, sid: int, out: Outcome, n: int = 2) -> None:
    """The legitimate session still carries data both ways."""
    try:
        duo.exchange(sid, n, b"after")
    except (AssertionError, RuntimeError, UsageError) as e:
        out.survived = False
        out.notes.append("legitimate session broken: %s" % e)


# ------------------------------------------------------- the oracle for flips

ACCEPTS = {"F": wire.ACCEPTED_BY_F, "S": wire.ACCEPTED_BY_S}
KNOWN_TYPES = frozenset((1, 2, 3, 4, 5, 6, 7, 8, 15))
FIXED_LENGTHS = {1: 22, 4: 27, 6: 41, 7: 16, 8: 17, 15: 4}
SRK_LENGTHS = {1: 40, 2: 64, 3: 80}  # suite 3: docs/protocol.md 15.10
PROOF_LENGTHS = {1: 27, 2: 59, 3: 91}
PROTECTED_TYPES = frozenset((5, 6, 7, 8))


def expected_code(frame: bytes, role: str, state: str, session_sid: int, session_suite: int,
                  max_payload: int = 256, checked: bytes = b"") -> int:
    """The code a station in ``state`` must give ``frame`` (a genuine frame
    with one bit flipped, or another hostile frame), from protocol.md 4.4 items
    1-5 and 4.5, 5.1-5.2 alone. ``IGNORED`` for a PROOF equal to the one F is
    CHECKING (``checked``); REQ frames that pass the stateless rules are not
    this oracle's business (the caller knows which peer they name).

    States: S: "WAIT_SRK", "PROVING", "WAIT_KEY", "OPEN"; F: "WAIT_PROOF",
    "CHECKING", "WAIT_CONFIRM", "OPEN". The tests' S offers one suite, F
    accepts one. Everything that survives the checks that need no key is
    AUTH_FAILED (``t``, ``auth``, a key wrap or a tag); ``kidx`` is the caller's.
    """
    n = len(frame)
    if n == 0:
        return Code.MALFORMED
    if frame[0] >> 4 != 2:
        return Code.BAD_VERSION
    t = frame[0] & 0x0F
    if t not in KNOWN_TYPES:
        return Code.BAD_TYPE
    if t not in ACCEPTS[role]:
        return Code.UNEXPECTED
    if t == 2:
        if n < 4:
            return Code.MALFORMED
        if frame[3] not in SRK_LENGTHS:
            return Code.BAD_SUITE
        if n != SRK_LENGTHS[frame[3]]:
            return Code.MALFORMED
    elif t == 3:
        if n not in PROOF_LENGTHS.values():
            return Code.MALFORMED
    elif t == 5:
        if not 16 <= n <= 16 + max_payload:
            return Code.MALFORMED
    elif n != FIXED_LENGTHS[t]:
        return Code.MALFORMED
    if t in PROTECTED_TYPES and frame[4] & 0xC0:
        return Code.MALFORMED
    if t == 1:
        return Code.MALFORMED if frame[21] == 0 or frame[21] & 0x80 else IGNORED
    sid = int.from_bytes(frame[1:3], "big")
    if role == "S" and state == "WAIT_SRK":
        if t != 2:
            return Code.UNKNOWN_SESSION
        if frame[3] != session_suite:
            return Code.BAD_SUITE  # not in the offer (the tests offer one suite)
        if sid == 0:
            return Code.MALFORMED
        return Code.AUTH_FAILED
    if sid != session_sid:
        return Code.UNKNOWN_SESSION
    if role == "S":
        if state == "WAIT_KEY" and t == 4:
            return Code.AUTH_FAILED
        if state == "OPEN" and t in PROTECTED_TYPES:
            return Code.AUTH_FAILED
        return Code.UNEXPECTED
    if t == 3:
        if n != PROOF_LENGTHS[session_suite]:
            return Code.MALFORMED
        if state == "WAIT_PROOF":
            return Code.AUTH_FAILED
        if state == "CHECKING" and frame == checked:
            return IGNORED
        return Code.UNEXPECTED
    if state in ("WAIT_CONFIRM", "OPEN"):
        return Code.AUTH_FAILED
    return Code.UNEXPECTED


def flips(frame: bytes) -> Iterable[tuple[int, int, bytes]]:
    for i in range(len(frame)):
        for b in range(8):
            f = bytearray(frame)
            f[i] ^= 1 << b
            yield i, b, bytes(f)


def answered(frame: bytes) -> bool:
    """F answers a rejected frame with ERROR iff its byte 0 is 0x21 (REQ) or
    0x23 (PROOF) (4.4 item 5; except a REQ rejected with REPLAY)."""
    return bool(frame) and frame[0] in (wire.byte0(wire.REQ), wire.byte0(wire.PROOF))


# ------------------------------------------------------------------- attacks

# the host first station as the counterpart of a firmware S: rotates often
PEER_F = {"rotate_frames": 4, "idrks": 64}


def record_session(factory: TargetFactory, role: str, cfg: dict[str, Any],
                   exchanges: int = 6, seed: bytes | None = None,
                   peer_seed: bytes | None = None, suite: int = 1,
                   pairings: list[Pairing] | None = None) -> tuple[Duo, int]:
    """A legitimate session with rotations, all recorded; left open (confirmed)."""
    duo = make_duo(factory, role, cfg, peer_cfg=PEER_F if role == "S" else None, seed=seed,
                   peer_seed=peer_seed, suite=suite, pairings=pairings)
    sid = duo.handshake()
    duo.exchange(sid, exchanges)
    return duo, sid


def attack_replay_existing(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Every recorded frame sent again into the open session it came from."""
    duo, sid = record_session(factory, role, cfg)
    out = Outcome("replay into the existing session", duo.target.name + " " + role)
    for fr in duo.frames(duo.to_target):
        duo.t += 1
        t = ftype(fr)
        if t == wire.REQ:  # 4.2 step 1: an established handshake's n_s, no answer
            inject(duo, out, fr, Code.REPLAY, answer=False)
        elif t == wire.PROOF:  # the session is confirmed: UNEXPECTED, answered
            inject(duo, out, fr, Code.UNEXPECTED, answer=True)
        elif t in (wire.SRK, wire.KEY):
            inject(duo, out, fr, Code.UNEXPECTED, answer=False)
        else:
            inject(duo, out, fr, {Code.REPLAY, Code.BAD_KEY_INDEX}, answer=False)
    check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def _end_session(duo: Duo) -> None:
    if duo.target.role == "F":
        assert isinstance(duo.peer, SecondStation)
        duo.peer.close(duo.t)
        duo.pump()
    else:
        duo.target_step("close")


def attack_replay_new(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Every recorded frame of a finished session sent into a new one: as it
    was (its sid is gone) and with the sid rewritten to the new session's
    (which F has not seen confirmed yet: WAIT_CONFIRM)."""
    duo, _old_sid = record_session(factory, role, cfg)
    recorded = duo.frames(duo.to_target)
    _end_session(duo)
    duo.t += 1
    new_sid = duo.handshake()
    first_srk = duo.frames(F2S)[0]
    out = Outcome("replay into a new session", duo.target.name + " " + role)
    for fr in recorded:
        duo.t += 1
        t = ftype(fr)
        if t == wire.REQ:
            # A REQ carries no proof of freshness: F treats it as a new request
            # (4.2): one SRK frame, a new sid, no event.
            got, _ = inject(duo, out, fr, allow_out=lambda f: ftype(f) == wire.SRK)
            srks = [f for f in got if ftype(f) == wire.SRK]
            if len(srks) != 1 or with_sid(srks[0], 0) == with_sid(first_srk, 0):
                out.unexpected.append("replayed REQ: expected one fresh SRK frame, got %s"
                                      % [f.hex() for f in got])
            else:
                out.notes.append("replayed REQ answered with a fresh SRK frame (new sid %d)"
                                 % fsid(srks[0]))
            continue
        # as recorded: the old sid names no session
        if role == "S" and t == wire.SRK:
            inject(duo, out, fr, Code.UNEXPECTED if fsid(fr) == new_sid
                   else Code.UNKNOWN_SESSION)
        else:
            inject(duo, out, fr, Code.UNKNOWN_SESSION, answer=role == "F" and t == wire.PROOF)
        # rewritten into the new session
        moved = with_sid(fr, new_sid)
        if t in wire.PROTECTED:
            inject(duo, out, moved, {Code.AUTH_FAILED, Code.BAD_KEY_INDEX}, answer=False)
        elif t == wire.PROOF:
            inject(duo, out, moved, Code.UNEXPECTED, answer=True)  # WAIT_CONFIRM, not equal
        else:
            inject(duo, out, moved, Code.UNEXPECTED, answer=False)  # SRK/KEY in OPEN at S
    check_alive(duo, new_sid, out)
    duo.target.close_target()
    return out


def attack_replay_into_handshake(factory: TargetFactory, role: str,
                                 cfg: dict[str, Any]) -> Outcome:
    """The recorded handshake frames of an earlier session, sid rewritten,
    sent into a new handshake waiting for exactly that frame: the fresh
    nonces make them fail; the new handshake then completes."""
    duo, _ = record_session(factory, role, cfg, exchanges=1)
    rec_to_target = duo.frames(duo.to_target)
    _end_session(duo)
    out = Outcome("replay into a new handshake", duo.target.name + " " + role)
    duo.t += 1
    if role == "F":
        # hold the new PROOF back while the old one is tried in its place
        assert isinstance(duo.peer, SecondStation)
        held: list[bytes] = []
        duo.intercept = holder(held, S2F, wire.PROOF)
        duo.peer.connect(duo.t)
        duo.pump()
        duo.intercept = None
        sid = fsid(held[0])
        old_proof = next(f for f in rec_to_target if ftype(f) == wire.PROOF)
        inject(duo, out, with_sid(old_proof, sid), Code.AUTH_FAILED, answer=True)  # t: KP
        duo.pump(duo.feed_target(held))
    else:
        old_srk = next(f for f in rec_to_target if ftype(f) == wire.SRK)
        old_key = next(f for f in rec_to_target if ftype(f) == wire.KEY)
        got, _ = duo.target.step("connect", duo.t)
        req = got[0]
        inject(duo, out, old_srk, Code.AUTH_FAILED)  # KEK2 / auth depend on the new n_s
        assert isinstance(duo.peer, FirstStation)
        duo.peer.receive(req, duo.t)
        srk = duo.peer.outputs()[0]
        proof = duo.feed_target([srk])
        sid = fsid(srk)
        inject(duo, out, with_sid(old_key, sid), Code.AUTH_FAILED)
        duo.pump(proof)
    out.survived = any(e.name == ESTABLISHED and e.sid == sid for e in duo.target_events)
    if out.survived:
        check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def attack_reflect(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Every frame the target sent, sent back to it."""
    duo, sid = record_session(factory, role, cfg)
    out = Outcome("reflection", duo.target.name + " " + role)
    for fr in duo.frames(duo.to_peer):
        duo.t += 1
        t = ftype(fr)
        if t == wire.ERROR:
            inject(duo, out, fr, answer=False)  # PEER_ERROR, no state change
        elif t not in ACCEPTS[role]:
            inject(duo, out, fr, Code.UNEXPECTED, answer=False)
        else:  # DATA/CLOSE: the direction byte in the nonce
            inject(duo, out, fr, {Code.AUTH_FAILED, Code.BAD_KEY_INDEX}, answer=False)
    check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def attack_splice(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Two sessions with the same target: frames of one put into the other
    (sid rewritten), and frames cut and glued from both."""
    out = Outcome("splicing between two sessions", "?")
    if role == "F":
        pairs = [pairing(0), pairing(1)]
        target = factory("F", cfg, pairs, None)
        out.target = target.name + " F"
        a = Duo(target, SecondStation(SecondConfig(**HOST_S), pairs[0], os.urandom, 0))
        b = Duo(target, SecondStation(SecondConfig(**HOST_S), pairs[1], os.urandom, 0))
        sid_a = a.handshake()
        a.exchange(sid_a, 5)
        # B's handshake, with its PROOF held back for a splice attempt
        held: list[bytes] = []
        b.intercept = holder(held, S2F, wire.PROOF, once=True)
        assert isinstance(b.peer, SecondStation)
        b.peer.connect(b.t)
        b.pump()
        b.intercept = None
        sid_b = fsid(held[0])
        proof_a = next(f for f in a.frames(S2F) if ftype(f) == wire.PROOF)
        # both counted failures (4.5); proof_tries is 3, so B's own PROOF still passes
        inject(b, out, with_sid(proof_a, sid_b), Code.AUTH_FAILED, answer=True)
        inject(b, out, held[0][:3] + proof_a[3:-8] + held[0][-8:], Code.AUTH_FAILED,
               answer=True)
        b.pump(b.feed_target(held))
        b.exchange(sid_b, 5)
        for src, dst_sid, dst in ((a, sid_b, b), (b, sid_a, a)):
            for fr in src.frames(S2F):
                if ftype(fr) in wire.PROTECTED:
                    dst.t += 1
                    inject(dst, out, with_sid(fr, dst_sid),
                           {Code.AUTH_FAILED, Code.BAD_KEY_INDEX}, answer=False)
        check_alive(a, sid_a, out)
        check_alive(b, sid_b, out)
    else:
        # two first stations (S holds one pairing): the same S target talks to
        # F1, then F2's frames are spliced into its session with F1
        p = pairing(0)
        target = factory("S", cfg, [p], None)
        out.target = target.name + " S"
        f1 = FirstStation(FirstConfig(**HOST_F), [p], os.urandom, 0)
        f2 = FirstStation(FirstConfig(**HOST_F), [p], os.urandom, 0)
        d1 = Duo(target, f1)
        sid1 = d1.handshake()
        d1.exchange(sid1, 5)
        d1.target_step("close")
        d2 = Duo(target, f2)
        d2.t = d1.t + 1
        sid2 = d2.handshake()
        d2.exchange(sid2, 5)
        for fr in d1.frames(F2S):
            d2.t += 1
            if ftype(fr) in wire.PROTECTED:
                inject(d2, out, with_sid(fr, sid2), {Code.AUTH_FAILED, Code.BAD_KEY_INDEX},
                       answer=False)
            elif ftype(fr) == wire.KEY:
                inject(d2, out, with_sid(fr, sid2), Code.UNEXPECTED, answer=False)
        check_alive(d2, sid2, out)
    target.close_target()
    return out


def forge_proof(ps: bytes, req: bytes, srk_frame: bytes, x: bytes, spv: bytes | None = None,
                e_pub: bytes | None = None) -> bytes:
    """A PROOF for this transcript with PS (so ``t`` verifies) and ``x`` (the SRK
    or DH, right or wrong), carrying ``spv`` (default: the right one)."""
    suite = srk_frame[3]
    th2 = ks.th2(ks.th1(req), srk_frame)
    prk = ks.prk(req[9:21], srk_frame[4:16], ps)
    value = spv if spv is not None else ks.spv(prk, suite, th2)
    body = wire.proof_head(fsid(srk_frame), e_pub) + ks.xor(
        value, ks.pad(ks.prk3(th2, x, ps), suite))
    return body + ks.proof_t(ks.kp(prk, suite, th2), body)


def attack_stale_srk(factory: TargetFactory, cfg: dict[str, Any]) -> list[Outcome]:
    """PROOFs after their interval, at and after the lifetime, after M x L,
    and a PROOF computed under the SRK of an earlier interval."""
    fcfg = dict({"interval_ms": 10_000, "lifetime_ms": 20_000, "m": 3}, **cfg)
    L, M, iv = fcfg["lifetime_ms"], fcfg["m"], fcfg["interval_ms"]
    results = []

    def half_open(t: int) -> tuple[Duo, bytes]:
        duo = make_duo(factory, "F", fcfg)
        duo.t = t
        held: list[bytes] = []
        duo.intercept = holder(held, S2F, wire.PROOF, once=False)
        assert isinstance(duo.peer, SecondStation)
        duo.peer.connect(t)
        duo.pump()
        duo.intercept = None
        return duo, held[0]

    # 1. after its interval, inside the lifetime: must still be accepted (4.1)
    duo, proof = half_open(iv - 1000)
    duo.t = iv - 1000 + L - 1
    out = Outcome("PROOF after its interval, within L", duo.target.name + " F")
    got, evs = duo.target.receive(proof, duo.t)
    out.tried += 1
    if not any(e.name == ESTABLISHED for e in evs) or not any(ftype(f) == wire.KEY for f in got):
        out.survived = False
        out.unexpected.append("not established: %r" % evs)
    out.notes.append("interval moved from 0 to %d; accepted, as 4.1 says" % ((iv - 1000 + L - 1)
                                                                            // iv))
    duo.target.close_target()
    results.append(out)

    # 2. at request_time + L: SRK_EXPIRED (not counted), answered
    duo, proof = half_open(1000)
    duo.t = 1000 + L
    out = Outcome("PROOF at request + L", duo.target.name + " F")
    inject(duo, out, proof, Code.SRK_EXPIRED, answer=True)
    # the timer then frees the slot, and the proof names no session
    _, evs = duo.target.step("poll", duo.t)
    if [e.name for e in evs] != ["HANDSHAKE_FAILED"] or evs[0].arg != Code.TIMEOUT:
        out.unexpected.append("poll at L: %r" % evs)
    inject(duo, out, proof, Code.UNKNOWN_SESSION, answer=True)
    duo.target.close_target()
    results.append(out)

    # 3. after M x L, no poll in between: the SRK has left the ring
    duo, proof = half_open(1000)
    duo.t = M * L + 1000
    out = Outcome("PROOF after M x L", duo.target.name + " F")
    inject(duo, out, proof, Code.SRK_EXPIRED, answer=True)
    duo.target.close_target()
    results.append(out)

    # 4. a PROOF made with PS and the SRK of an earlier interval (the attacker
    #    has it: the target's RNG is seeded, so the draws are known): t passes,
    #    c does not (BAD_PROOF, counted)
    out = Outcome("PROOF under the SRK of an earlier interval", "?")
    seed = b"stale-srk"
    p = pairing(0)
    target = factory("F", fcfg, [p], seed)
    out.target = target.name + " F"
    s_old = SecondStation(SecondConfig(**HOST_S), p, os.urandom, 0)
    d_old = Duo(target, s_old)
    sid_old = d_old.handshake()
    old_srk = Drbg(seed)(16)  # the first 16 bytes of F's first RNG call (4.2 step 4)
    d_old.target_step("close", sid=sid_old)
    t_new = iv * 1 + 5
    s_new = SecondStation(SecondConfig(**HOST_S), p, os.urandom, t_new)
    d_new = Duo(target, s_new, t=t_new)
    held2: list[bytes] = []
    d_new.intercept = holder(held2, S2F, wire.PROOF, once=False)
    s_new.connect(t_new)
    d_new.pump()
    d_new.intercept = None
    req = next(f for d, f in d_new.log if d == S2F and ftype(f) == wire.REQ)
    srk_frame = next(f for d, f in d_new.log if d == F2S and ftype(f) == wire.SRK)
    inject(d_new, out, forge_proof(p.ps, req, srk_frame, old_srk), Code.BAD_PROOF, answer=True)
    d_new.pump(d_new.feed_target(held2))
    out.survived = any(e.name == ESTABLISHED and e.sid == fsid(srk_frame)
                       for e in d_new.target_events)
    target.close_target()
    results.append(out)
    return results


def attack_guess_parameter(factory: TargetFactory, cfg: dict[str, Any],
                           tries: int = 200) -> list[Outcome]:
    """Without PS: random PROOFs fail ``t`` (AUTH_FAILED), against a target
    allowing the most tries (``proof_tries`` 255); with the session's SRK known
    (its compromise, section 9) but not PS: PROOFs made with guessed PS fail
    ``t`` too, and the KEY of a session in that interval stays closed. With the
    default ``proof_tries`` the half-open slot is gone after 3 guesses."""
    tries = min(tries, 126)  # two kinds of guesses below 255 failures: the PROOF still passes
    results = []
    seed = b"guess"
    p = pairing(0)
    target = factory("F", dict(cfg, proof_tries=255), [p], seed)
    out1 = Outcome("guess the shared parameter (no SRK)", target.name + " F")
    out2 = Outcome("guess the shared parameter (SRK compromised)", target.name + " F")
    srk = Drbg(seed)(16)  # F's first RNG call starts with the interval's SRK
    duo = Duo(target, SecondStation(SecondConfig(**HOST_S), p, os.urandom, 0))
    held: list[bytes] = []
    duo.intercept = holder(held, S2F, wire.PROOF, once=False)
    assert isinstance(duo.peer, SecondStation)
    duo.peer.connect(0)
    duo.pump()
    duo.intercept = None
    req = duo.frames(S2F)[0]
    srk_frame = duo.frames(F2S)[0]
    sid = fsid(srk_frame)
    rnd = Drbg(b"attacker")
    for _ in range(tries):
        duo.t += 1
        inject(duo, out1, wire.proof_head(sid) + rnd(24), Code.AUTH_FAILED, answer=True)
    for i in range(tries):
        duo.t += 1
        guess_ps = rnd(16) if i % 2 else b"%016d" % i
        inject(duo, out2, forge_proof(guess_ps, req, srk_frame, srk), Code.AUTH_FAILED,
               answer=True)
    # the legitimate PROOF is still accepted: rejected guesses changed nothing else
    duo.pump(duo.feed_target(held))
    for o in (out1, out2):
        o.survived = any(e.name == ESTABLISHED and e.sid == sid for e in duo.target_events)
    # with the SRK and no PS, KEY cannot be opened (PRK3 needs PS)
    key = next((f for d, f in duo.log if d == F2S and ftype(f) == wire.KEY), None)
    if key is not None:
        th2 = ks.th2(ks.th1(req), srk_frame)
        th3 = ks.th3(th2, held[0])
        opened = 0
        for _ in range(tries):
            ms = ks.ms(ks.prk3(th2, srk, rnd(16)), 1, th3)
            if crypto.kw_unwrap(ks.kek(ms, 1, 0), key[3:]) is not None:
                opened += 1
        out2.notes.append("KEY unwrap with the SRK and %d guessed PS: %d opened" % (tries, opened))
        out2.wrong_accepts += opened
    check_alive(duo, sid, out1)
    target.close_target()
    results += [out1, out2]

    # The default limit: three guesses, then the sid names nothing.
    target = factory("F", cfg, [p], None)
    out3 = Outcome("guesses limited by proof_tries", target.name + " F")
    s_peer = SecondStation(SecondConfig(**HOST_S), p, os.urandom, 0)
    duo = Duo(target, s_peer)
    held = []
    duo.intercept = holder(held, S2F, wire.PROOF, once=False)
    s_peer.connect(0)
    duo.pump()
    duo.intercept = None
    sid = fsid(duo.frames(F2S)[0])
    limit = int(cfg.get("proof_tries", 3))
    for i in range(limit + 3):
        duo.t += 1
        code = Code.AUTH_FAILED if i < limit else Code.UNKNOWN_SESSION
        inject(duo, out3, wire.proof_head(sid) + rnd(24), code, answer=True,
               allow_events=("HANDSHAKE_FAILED",) if i == limit - 1 else ())
    inject(duo, out3, held[0], Code.UNKNOWN_SESSION, answer=True)
    duo.t += 1
    assert isinstance(duo.peer, SecondStation)
    duo.peer.close(duo.t)
    out3.survived = _reconnects(duo)
    target.close_target()
    results.append(out3)
    return results


def _reconnects(duo: Duo) -> bool:
    """The legitimate peer (S) starts a new handshake and gets a working session."""
    assert isinstance(duo.peer, SecondStation)
    try:
        sid = duo.handshake()
        duo.exchange(sid, 1, b"again")
        return True
    except (AssertionError, RuntimeError, UsageError):
        return False


def attack_flipped_bits(factory: TargetFactory, role: str, cfg: dict[str, Any],
                        peer_cfg: dict[str, Any] | None = None) -> Outcome:
    """Every single-bit flip of every handshake frame the target receives,
    in the state that waits for it, and of a protected frame in OPEN; the
    code must be the one of ``expected_code``; the genuine frame then goes
    through. F allows 255 failed PROOFs here (each flip of ``c`` or ``t``
    counts, 4.5)."""
    out = Outcome("single-bit flips (SRK, KEY, PROOF, DATA, ...)", "?")
    duo = make_duo(factory, role, dict(cfg, proof_tries=255) if role == "F" else cfg,
                   peer_cfg=peer_cfg)
    out.target = duo.target.name + " " + role
    if role == "S":
        duo.ready()
        got, _ = duo.target.step("connect", 0)
        assert isinstance(duo.peer, FirstStation)
        duo.peer.receive(got[0], 0)
        srk = duo.peer.outputs()[0]
        sid = fsid(srk)
        for _i, _b, f in flips(srk):
            inject(duo, out, f, expected_code(f, "S", "WAIT_SRK", 0, srk[3]))
        proofs = duo.feed_target([srk])
        duo.peer.receive(proofs[0], 0)
        duo.peer.run_jobs(0)
        key = duo.peer.outputs()[0]
        for _i, _b, f in flips(key):
            inject(duo, out, f, expected_code(f, "S", "WAIT_KEY", sid, srk[3]))
        duo.pump(duo.feed_target([key]))
        suite = srk[3]
    else:
        assert isinstance(duo.peer, SecondStation)
        duo.peer.connect(0)
        req = duo.peer.outputs()[0]
        for _i, _b, f in flips(req):
            # a flipped REQ may be a valid request from another (unknown) peer,
            # or from this peer with another nonce or offer: then F answers with an SRK
            code = expected_code(f, "F", "", 0, 0)
            exp: set[int] | int = {Code.UNKNOWN_PEER, Code.BAD_SUITE} if code == IGNORED \
                else code
            inject(duo, out, f, exp, answer=answered(f) if code != IGNORED else None,
                   allow_out=lambda fr: ftype(fr) == wire.SRK)
        # start afresh with a new nonce: this peer's half-open slot is reused (4.2 step 3 (a))
        duo.peer.close(0)
        duo.peer.connect(0)
        req = duo.peer.outputs()[0]
        srk_out, _ = duo.target.receive(req, 0)
        srk = next(f for f in srk_out if ftype(f) == wire.SRK)
        duo.peer.receive(srk, 0)
        proof = duo.peer.outputs()[0]
        sid = fsid(srk)
        suite = srk[3]
        for _i, _b, f in flips(proof):
            code = expected_code(f, "F", "WAIT_PROOF", sid, suite)
            inject(duo, out, f, code, answer=answered(f))
        duo.pump(duo.feed_target([proof]))
    # protected frames in OPEN (F: WAIT_CONFIRM, the same codes)
    duo.t = 10
    if role == "F":
        assert isinstance(duo.peer, SecondStation)
        duo.peer.send_data(b"flip me", duo.t)
        state = "WAIT_CONFIRM"
    else:
        assert isinstance(duo.peer, FirstStation)
        duo.peer.send_data(sid, b"flip me", duo.t)
        state = "OPEN"
    data = duo.peer.outputs()[0]
    for i, _b, f in flips(data):
        code = expected_code(f, role, state, sid, suite)
        if code == Code.AUTH_FAILED and i == 3:
            code = Code.BAD_KEY_INDEX
        inject(duo, out, f, code, answer=answered(f) if role == "F" else False)
    before = len(duo.target_events)
    duo.feed_target([data])
    got_data = [e.payload for e in duo.target_events[before:] if e.name == DATA]
    if got_data != [b"flip me"]:
        out.survived = False
        out.notes.append("genuine DATA after the flips: %r" % duo.target_events[before:])
    check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def attack_downgrade(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Other versions (never answered, version 1's frames included), an SRK
    frame with another suite byte or a PROOF of the other suite's length in an
    established session, and REQ offers with no common suite or invalid bits."""
    duo, sid = record_session(factory, role, cfg, exchanges=2)
    out = Outcome("downgrade version / suite", duo.target.name + " " + role)
    for fr in duo.frames(duo.to_target):
        for ver in (0, 1, 3, 15):
            duo.t += 1
            inject(duo, out, bytes((ver << 4 | fr[0] & 0x0F,)) + fr[1:], Code.BAD_VERSION,
                   answer=False)
        duo.t += 1
        inject(duo, out, bytes((1, ftype(fr), 1)) + bytes(4) + fr[1:], Code.BAD_VERSION,
               answer=False)  # the same frame with a version-1 header
        t = ftype(fr)
        if t == wire.SRK:
            for suite in (0, 2, 3, 0xFF):
                if suite == fr[3]:
                    continue
                duo.t += 1
                inject(duo, out, fr[:3] + bytes((suite,)) + fr[4:],
                       {Code.BAD_SUITE, Code.MALFORMED}, answer=False)
        elif t == wire.PROOF:
            other = fr[:3] + bytes(32) + fr[3:] if len(fr) == 27 else fr[:3] + fr[35:]
            duo.t += 1
            inject(duo, out, other, Code.MALFORMED, answer=True)
    if role == "F":
        req = next(f for f in duo.frames(S2F) if ftype(f) == wire.REQ)
        for offer, exp in ((0x00, Code.MALFORMED), (0x80, Code.MALFORMED),
                           (0x81, Code.MALFORMED), (0x40, Code.BAD_SUITE),
                           (0x20, Code.BAD_SUITE), (0x04, Code.BAD_SUITE)):
            if offer & wire.suites_to_offer(cfg.get("suites", [2, 1])) and exp == Code.BAD_SUITE:
                continue
            duo.t += 1
            fresh = req[:9] + os.urandom(12) + bytes((offer,))
            inject(duo, out, fresh, exp, answer=True)
    check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def attack_offer_rewrite(factory: TargetFactory, s_factory: TargetFactory,
                         offer: list[int], strip_to: int) -> Outcome:
    """The attacker rewrites the offer of S's first REQ (e.g. suites {1,2} ->
    {1}). TH1 binds the offer, so S must refuse the SRK frame made for the
    rewritten REQ; when S then sends its genuine REQ again, it is a new
    request (4.2 step 1: same n_s, another offer), so S can only end up in the
    highest common suite. Both stations are the targets' kind."""
    p = pairing(0)
    f = factory("F", {"suites": offer}, [p], None)
    s = s_factory("S", {"offer": offer}, [p], None)
    out = Outcome("REQ offer rewritten on the wire (downgrade)", f.name + " F / " + s.name + " S")
    t = 0
    if 2 in offer:
        for _ in range(2):
            f.step("prepare", t)
        f.step("work", t)

    def deliver(to: Target, frame: bytes) -> tuple[list[bytes], list[Event]]:
        got, evs = to.receive(frame, t)
        more, evs2 = to.step("work", t)
        return got + more, evs + evs2

    req, _ = s.step("connect", t)
    tampered = bytearray(req[0])
    tampered[21] = strip_to
    srk1, _ = f.receive(bytes(tampered), t)
    out.tried += 1
    _, evs = deliver(s, srk1[0])
    out.codes.update(_name(e.arg) for e in evs if e.name == ERROR)
    established = None
    suite_seen = 0
    for _ in range(10):
        t += 1000
        frames, evs = s.step("poll", t)
        if any(e.name == "HANDSHAKE_FAILED" for e in evs):
            out.notes.append("handshake failed: %r" % evs)
            break
        queue = [(f, fr) for fr in frames]
        while queue and established is None:
            to, fr = queue.pop(0)
            back, evs = deliver(to, fr)
            if to is s:
                out.codes.update(_name(e.arg) for e in evs if e.name == ERROR)
                if ftype(fr) == wire.SRK and not any(e.name == ERROR for e in evs):
                    suite_seen = fr[3]
                if any(e.name == ESTABLISHED for e in evs):
                    established = suite_seen
            elif ftype(fr) == wire.REQ and back and back[0] != srk1[0]:
                out.notes.append("genuine REQ answered as a new request")
            queue += [(s if to is f else f, b) for b in back]
        if established is not None:
            break
    best = max(offer)
    if established is not None and established != best:
        out.wrong_accepts += 1
        out.unexpected.append("S established a session in suite %d (offer %r): downgraded"
                              % (established, offer))
    elif established is not None:
        out.notes.append("established in suite %d" % established)
    f.close_target()
    s.close_target()
    return out


def attack_flood(factory: TargetFactory, cfg: dict[str, Any], n: int = 2000,
                 paired_flooders: int = 0) -> Outcome:
    """``n`` REQs inside one interval from ``n`` claimed identities (unknown
    ones, and ``paired_flooders`` paired identities other than the legitimate
    peer's); an established session keeps working and a handshake started in
    the middle of the flood completes."""
    legit = pairing(0)
    est = pairing(1)
    flooders = [pairing(10 + i) for i in range(paired_flooders)]
    target = factory("F", dict({"sessions": 8}, **cfg), [legit, est, *flooders], None)
    out = Outcome("flood: %d REQs in one interval (%d paired ids)" % (n, paired_flooders),
                  target.name + " F")
    d_est = Duo(target, SecondStation(SecondConfig(**HOST_S), est, os.urandom, 0))
    sid_est = d_est.handshake()
    d_est.exchange(sid_est, 1)  # confirmed: never taken by a REQ
    d_legit = Duo(target, SecondStation(SecondConfig(**HOST_S), legit, os.urandom, 0))
    rnd = Drbg(b"flood")
    legit_started = False
    srk_answers = 0
    for i in range(n):
        t = 1 + i * 2000 // max(n, 1)  # all inside the first interval (10 s)
        if paired_flooders and i % 4 == 0:
            id_s = flooders[i // 4 % paired_flooders].id_s
        else:
            id_s = rnd(8)
        req = wire.build_req(id_s, rnd(12), 1)
        d_legit.t = t
        got, _ = inject(d_legit, out, req, {Code.UNKNOWN_PEER}, answer=id_s not in
                        {p.id_s for p in flooders}, allow_out=lambda f: ftype(f) == wire.SRK)
        srk_answers += sum(1 for f in got if ftype(f) == wire.SRK)
        if i == n // 2 and not legit_started:
            legit_started = True
            assert isinstance(d_legit.peer, SecondStation)
            d_legit.peer.connect(t)
            d_legit.pump()
    legit_ok = any(e.name == ESTABLISHED for e in d_legit.peer_events)
    out.notes.append("SRK frames sent to paired flooders: %d" % srk_answers)
    out.notes.append("legitimate handshake during the flood: %s"
                     % ("established" if legit_ok else "FAILED"))
    if not legit_ok:
        out.survived = False
    else:
        assert isinstance(d_legit.peer, SecondStation)
        check_alive(d_legit, d_legit.peer.sid, out)
    check_alive(d_est, sid_est, out)
    target.close_target()
    return out


# -------------------------------------------------- version 2's own attacks

def attack_forged_proofs(factory: TargetFactory, cfg: dict[str, Any]) -> Outcome:
    """Issue 12 item 1: PROOFs forged without PS for a half-open suite-2 sid
    (public in the SRK frame): each is rejected at ``t`` (AUTH_FAILED,
    answered) and starts no job; the ``proof_tries``-th frees the slot
    (HANDSHAKE_FAILED(AUTH_FAILED)); every later PROOF for it, the genuine
    one included, is UNKNOWN_SESSION. The peer's next handshake succeeds."""
    p = pairing(0)
    cfg = dict({"suites": [2]}, **cfg)
    target = factory("F", cfg, [p], None)
    out = Outcome("forged suite-2 PROOFs for a half-open sid", target.name + " F")
    duo = Duo(target, SecondStation(SecondConfig(**HOST_S2), p, os.urandom, 0))
    duo.ready()
    held: list[bytes] = []
    duo.intercept = holder(held, S2F, wire.PROOF, once=True)
    assert isinstance(duo.peer, SecondStation)
    duo.peer.connect(duo.t)
    duo.pump()
    duo.intercept = None
    sid = fsid(held[0])
    limit = int(cfg.get("proof_tries", 3))
    rnd = Drbg(b"forger")
    jobs = 0
    failed: list[Event] = []
    for i in range(limit + 5):
        duo.t += 1
        forged = wire.proof_head(sid, rnd(32)) + rnd(24)
        code = Code.AUTH_FAILED if i < limit else Code.UNKNOWN_SESSION
        _, evs = inject(duo, out, forged, code, answer=True,
                        allow_events=("HANDSHAKE_FAILED",) if i == limit - 1 else ())
        failed += [e for e in evs if e.name == "HANDSHAKE_FAILED"]
        if duo.target.busy():
            jobs += 1
        more = duo.work_target()  # an event loop would work now: nothing to do
        if more:
            out.unexpected.append("work after a forged PROOF: %s" % [m.hex() for m in more])
    if [(e.sid, e.arg) for e in failed] != [(sid, Code.AUTH_FAILED)]:
        out.unexpected.append("HANDSHAKE_FAILED events: %r" % failed)
    inject(duo, out, held[0], Code.UNKNOWN_SESSION, answer=True)
    out.notes.append("jobs started by forged PROOFs: %d%s" % (
        jobs, "" if duo.target.busy() is not None else " (the target does not report busy)"))
    if jobs:
        out.wrong_accepts += jobs
    duo.t += 1
    duo.peer.close(duo.t)
    out.survived = _reconnects(duo)
    target.close_target()
    return out


def attack_zombies(factory: TargetFactory, cfg: dict[str, Any], rounds: int = 8) -> Outcome:
    """Issue 12 item 2: one peer's KEY frames are all lost, ``rounds`` times
    (S gives up or reboots and asks again), then its CLOSE frames are lost
    ``rounds`` times; a 4-slot table. The target must replace the peer's
    unconfirmed or surplus sessions (CLOSE(REPLACED)) and never answer BUSY;
    another peer then gets a session at once."""
    p0, p1 = pairing(0), pairing(1)
    target = factory("F", dict(cfg, sessions=4), [p0, p1], None)
    out = Outcome("zombie sessions: %d lost KEYs, %d lost CLOSEs" % (rounds, rounds),
                  target.name + " F")
    duo = Duo(target, SecondStation(SecondConfig(**HOST_S), p0, os.urandom, 0))
    s0 = duo.peer
    assert isinstance(s0, SecondStation)
    duo.intercept = dropper(F2S, (wire.KEY,))
    for _ in range(rounds):
        duo.t += 100
        duo.ready()
        s0.connect(duo.t)
        duo.pump()
        out.tried += 1
        s0.close(duo.t)  # S reboots: its session, never established, is gone
    duo.intercept = dropper(S2F, (wire.CLOSE,))
    for _ in range(rounds):
        duo.t += 100
        sid = duo.handshake()
        duo.exchange(sid, 1, b"zombie")
        s0.close(duo.t)  # CLOSE lost
        duo.pump()
        out.tried += 1
    duo.intercept = None
    busy = [e for e in duo.target_events if e.name == ERROR and e.arg == Code.BUSY]
    replaced = [e for e in duo.target_events if e.name == "CLOSED" and e.arg == Code.REPLACED]
    if busy:
        out.unexpected.append("BUSY %d times" % len(busy))
    out.codes.update(_name(e.arg) for e in duo.target_events if e.name in (ERROR, "CLOSED"))
    out.notes.append("sessions replaced: %d" % len(replaced))
    if len(replaced) < 2 * rounds - 1:
        out.unexpected.append("only %d sessions replaced" % len(replaced))
    other = Duo(target, SecondStation(SecondConfig(**HOST_S), p1, os.urandom, 0), t=duo.t + 1)
    out.survived = _reconnects(other)
    target.close_target()
    return out


def attack_new_states(factory: TargetFactory, role: str) -> Outcome:
    """Frames reflected, replayed and spliced into version 2's new states:
    F's CHECKING (a suite-2 PROOF passed ``t``, its job not run yet) and
    WAIT_CONFIRM (KEY sent, S silent), S's PROVING (its PROOF job not run).
    Each is rejected with its code (a repeat of the PROOF being checked is
    ignored, a repeat of the accepted one gets the same KEY); the handshake
    then completes and the session works."""
    p = pairing(0)
    out = Outcome("reflection, replay, splicing in the new states", "?")
    if role == "F":
        # an earlier session of the same peer, recorded, to splice from
        old = make_duo(factory, "F", {"suites": [2]}, peer_cfg=HOST_S2, pairings=[p])
        out.target = old.target.name + " F"
        sid_old = old.handshake()
        old.exchange(sid_old, 2)
        old_s2f = old.frames(S2F)
        old_proof = next(f for f in old_s2f if ftype(f) == wire.PROOF)
        old_data = next(f for f in old_s2f if ftype(f) == wire.DATA)
        _end_session(old)
        duo = Duo(old.target, SecondStation(SecondConfig(**HOST_S2), p, os.urandom, 0),
                  t=old.t + 10)
        duo.ready()
        s = duo.peer
        assert isinstance(s, SecondStation)
        s.connect(duo.t)
        req = s.outputs()[0]
        srk, _ = duo.target.receive(req, duo.t)
        s.receive(srk[0], duo.t)
        s.run_jobs(duo.t)
        proof = s.outputs()[0]
        sid = fsid(proof)
        got, evs = duo.target.receive(proof, duo.t)  # CHECKING: no work yet
        if got or evs:
            out.unexpected.append("PROOF before work: %r %s" % (evs, [g.hex() for g in got]))
        exp: Set[int] | int | None  # what inject() expects of each frame
        for fr, exp, ans in (
                (srk[0], Code.UNEXPECTED, False),  # reflected
                (req, Code.REPLAY, False),  # replayed: CHECKING holds this n_s
                (proof, IGNORED, None),  # the PROOF being checked, again
                (proof[:40] + bytes((proof[40] ^ 1,)) + proof[41:], Code.UNEXPECTED, True),
                (proof[:3] + old_proof[3:35] + proof[35:], Code.UNEXPECTED, True),  # spliced
                (with_sid(old_proof, sid), Code.UNEXPECTED, True),
                (with_sid(old_data, sid), Code.UNEXPECTED, False)):
            duo.t += 1
            inject(duo, out, fr, exp, answer=ans)
        key = duo.work_target()
        if [ftype(k) for k in key] != [wire.KEY]:
            out.unexpected.append("work after CHECKING: %s" % [k.hex() for k in key])
        # WAIT_CONFIRM: S has the KEY, F has not heard S under it yet
        s.receive(key[0], duo.t)
        s.events()
        duo.target_step("send", sid=sid, payload=b"to an unconfirmed S")
        f_data = [f for f in duo.frames(F2S) if ftype(f) == wire.DATA] or \
            [f for f in s.outputs() if ftype(f) == wire.DATA]
        for fr, exp, ans in (
                (key[0], Code.UNEXPECTED, False),
                (req, Code.REPLAY, False),
                (proof[:3] + old_proof[3:35] + proof[35:], Code.UNEXPECTED, True),
                (with_sid(old_data, sid), {Code.AUTH_FAILED, Code.BAD_KEY_INDEX}, False)):
            duo.t += 1
            inject(duo, out, fr, exp, answer=ans)
        for fr in f_data[-1:]:
            duo.t += 1
            inject(duo, out, fr, Code.AUTH_FAILED, answer=False)  # reflected DATA
        duo.t += 1
        again, _ = inject(duo, out, proof, None, allow_out=lambda f: f == key[0])
        if again != key:
            out.unexpected.append("the accepted PROOF again: %s, not the same KEY"
                                  % [a.hex() for a in again])
        check_alive(duo, sid, out)
        duo.target.close_target()
        return out
    # S: PROVING
    fp = FirstStation(FirstConfig(**HOST_F2), [p], os.urandom, 0)
    target = factory("S", {"offer": [2]}, [p], None)
    out.target = target.name + " S"
    old = Duo(target, fp)
    sid_old = old.handshake()
    old.exchange(sid_old, 2)
    old_key = next(f for f in old.frames(F2S) if ftype(f) == wire.KEY)
    old_data = next(f for f in old.frames(F2S) if ftype(f) == wire.DATA)
    old.target_step("close")
    duo = Duo(target, fp, t=old.t + 10)
    reqs, _ = target.step("connect", duo.t)
    fp.receive(reqs[0], duo.t)
    srk_frame = fp.outputs()[0]
    sid = fsid(srk_frame)
    got, evs = target.receive(srk_frame, duo.t)  # PROVING: no work yet
    if got or evs:
        out.unexpected.append("SRK before work: %r %s" % (evs, [g.hex() for g in got]))
    for fr, exp in ((reqs[0], Code.UNEXPECTED),  # reflected REQ
                    (srk_frame, Code.UNEXPECTED),  # replayed SRK
                    (with_sid(srk_frame, sid ^ 0x5A5A), Code.UNKNOWN_SESSION),
                    (with_sid(old_key, sid), Code.UNEXPECTED),
                    (with_sid(old_data, sid), Code.UNEXPECTED)):
        duo.t += 1
        inject(duo, out, fr, exp, answer=False)
    proofs = duo.work_target()
    if [ftype(x) for x in proofs] != [wire.PROOF]:
        out.unexpected.append("work after PROVING: %s" % [x.hex() for x in proofs])
        out.survived = False
    else:
        duo.pump(proofs)
        check_alive(duo, sid, out)
    target.close_target()
    return out


def run_all(factory: TargetFactory, cfg_f: dict[str, Any], cfg_s: dict[str, Any],
            flood: int = 2000, guesses: int = 200,
            s_factory: TargetFactory | None = None) -> list[Outcome]:
    """Every attack against both roles of one implementation."""
    res: list[Outcome] = []
    for role, cfg in (("F", cfg_f), ("S", cfg_s)):
        res.append(attack_replay_existing(factory, role, cfg))
        res.append(attack_replay_new(factory, role, cfg))
        res.append(attack_replay_into_handshake(factory, role, cfg))
        res.append(attack_reflect(factory, role, cfg))
        res.append(attack_splice(factory, role, cfg))
        res.append(attack_flipped_bits(factory, role, cfg))
        res.append(attack_downgrade(factory, role, cfg))
        res.append(attack_new_states(factory, role))
    res += attack_stale_srk(factory, cfg_f)
    res += attack_guess_parameter(factory, cfg_f, guesses)
    res.append(attack_flood(factory, cfg_f, flood))
    res.append(attack_flood(factory, cfg_f, flood, paired_flooders=5))
    res.append(attack_forged_proofs(factory, {}))
    res.append(attack_zombies(factory, cfg_f))
    return res


# ------------------------------------------------------------------- fuzzing

MUTATIONS = ("flip", "bytes", "truncate", "extend", "splice", "header", "type", "version",
             "length", "random", "zero", "replay")


def _below(rnd: Rng, n: int) -> int:
    return int.from_bytes(rnd(4), "big") % max(n, 1)


def mutate(rnd: Rng, frame: bytes, corpus: list[bytes]) -> tuple[str, bytes]:
    """One fuzz input made from a genuine frame: (mutation, bytes)."""
    def below(n: int) -> int:
        return _below(rnd, n)

    how = MUTATIONS[below(len(MUTATIONS))]
    b = bytearray(frame)
    if how == "flip" and b:
        for _ in range(1 + below(3)):
            b[below(len(b))] ^= 1 << below(8)
    elif how == "bytes" and b:
        for _ in range(1 + below(4)):
            b[below(len(b))] = below(256)
    elif how == "truncate":
        del b[below(len(b) + 1):]
    elif how == "extend":
        b += rnd(1 + below(300))
    elif how == "splice":
        other = corpus[below(len(corpus))]
        cut = below(min(len(b), len(other)) + 1)
        b = b[:cut] + bytearray(other[cut:])
    elif how == "header" and len(b) >= 3:
        b[below(4 if len(b) >= 4 else 3)] = below(256)
    elif how == "type" and b:
        b[0] = 0x20 | (1, 2, 3, 4, 5, 6, 7, 8, 15, 0, 9, 14)[below(12)]
    elif how == "version" and b:
        b[0] = (0, 1, 3, 15)[below(4)] << 4 | b[0] & 0x0F
    elif how == "length":
        b = b[:3] + bytearray(rnd(below(300)))
    elif how == "random":
        b = bytearray(rnd(below(320)))
    elif how == "zero":
        b = bytearray(below(300))
    # "replay": the genuine frame as it is
    return how, bytes(b)


# The fields of the handshake frames (3.3, 3.9, 15.10): (type, suite) ->
# name -> (offset, size); REQ's layout has no suite (0).
FIELDS: dict[tuple[int, int], dict[str, tuple[int, int]]] = {
    (wire.REQ, 0): {"id_s": (1, 8), "n_s": (9, 12), "offer": (21, 1)},
    (wire.SRK, 2): {"sid": (1, 2), "suite": (3, 1), "n_f": (4, 12), "srk_pub": (16, 32),
                    "auth": (48, 16)},
    (wire.SRK, 3): {"sid": (1, 2), "suite": (3, 1), "n_f": (4, 12), "srk_pub": (16, 32),
                    "Y_f": (48, 32)},
    (wire.PROOF, 2): {"sid": (1, 2), "e_pub": (3, 32), "c": (35, 16), "t": (51, 8)},
    (wire.PROOF, 3): {"sid": (1, 2), "Y_s": (3, 32), "e_pub": (35, 32), "c": (67, 16),
                      "t": (83, 8)},
}
POINT_FIELDS = ("srk_pub", "Y_f", "e_pub", "Y_s")
P25519 = 2**255 - 19


def hostile_points() -> list[bytes]:
    """X25519 u-coordinates an attacker sends instead of a share or a key: the
    low-order ones of the vectors (tests/vectors/x25519.json: canonical and
    not, bit 255 set and clear), non-canonical encodings of ordinary points
    (p + 2 .. p + 18) and u = 9 with bit 255 set."""
    doc = json.loads((REPO / "tests" / "vectors" / "x25519.json").read_text())
    pts = [bytes.fromhex(u) for u in doc["low_order"]]
    pts += [(P25519 + k).to_bytes(32, "little") for k in (2, 3, 9, 18)]
    pts.append((9 | 1 << 255).to_bytes(32, "little"))
    return pts


def field_layout(frame: bytes) -> dict[str, tuple[int, int]] | None:
    """The fields of a genuine REQ, suite-2/3 SRK or suite-2/3 PROOF."""
    t = ftype(frame)
    if t == wire.REQ and len(frame) == wire.LENGTHS[wire.REQ]:
        return FIELDS[(wire.REQ, 0)]
    if t == wire.SRK and len(frame) in (64, 80):
        return FIELDS.get((wire.SRK, frame[3]))
    if t == wire.PROOF:
        return FIELDS.get((wire.PROOF, wire.PROOF_SUITE_OF_LENGTH.get(len(frame), 0)))
    return None


FIELD_MUTATIONS = ("point", "swap_points", "flip_field", "resize", "suite", "offer", "peer",
                   "fresh_n_s")


def mutate_fields(rnd: Rng, frame: bytes, points: list[bytes],
                  ids: list[bytes]) -> tuple[str, bytes] | None:
    """One input made from a genuine suite-2/3 handshake frame by changing one
    of its fields: a point field set to a hostile point or to the frame's
    other point, one bit of a named field flipped (``c``, ``t``, ``auth``,
    ``n_f``, ...), the frame cut or grown to another suite's length, an SRK's
    suite byte, a REQ's offer, its ``id_s`` (``ids``: the paired ones, e.g. a
    record without a user secret) or its nonce (a fresh request: floods).
    None for a frame without such fields."""
    lay = field_layout(frame)
    if lay is None:
        return None
    b = bytearray(frame)
    how = FIELD_MUTATIONS[_below(rnd, len(FIELD_MUTATIONS))]
    pf = [n for n in POINT_FIELDS if n in lay]
    if how in ("point", "swap_points") and pf:
        name = pf[_below(rnd, len(pf))]
        off, size = lay[name]
        if how == "point" or len(pf) < 2:
            how = "point"
            b[off:off + size] = points[_below(rnd, len(points))]
        else:
            o2, _ = lay[pf[1] if name == pf[0] else pf[0]]
            b[off:off + size] = frame[o2:o2 + size]
        return "%s:%s" % (how, name), bytes(b)
    if how == "resize" and ftype(frame) in (wire.SRK, wire.PROOF):
        lengths = wire.SRK_LENGTHS if ftype(frame) == wire.SRK else wire.PROOF_LENGTHS
        n = [*lengths.values(), len(frame) - 1, len(frame) + 1][_below(rnd, len(lengths) + 2)]
        return "resize", bytes(b[:n]) + rnd(max(0, n - len(b)))
    if how == "suite" and ftype(frame) == wire.SRK:
        b[3] = (0, 1, 2, 3, 4, 0xFF)[_below(rnd, 6)]
        return how, bytes(b)
    if how == "offer" and ftype(frame) == wire.REQ:
        b[21] = _below(rnd, 256)
        return how, bytes(b)
    if how == "peer" and ftype(frame) == wire.REQ:
        b[1:9] = ids[_below(rnd, len(ids))] if ids and _below(rnd, 4) else rnd(8)
        return how, bytes(b)
    if how == "fresh_n_s" and ftype(frame) == wire.REQ:
        b[9:21] = rnd(12)
        return how, bytes(b)
    names = list(lay)
    name = names[_below(rnd, len(names))]
    off, size = lay[name]
    b[off + _below(rnd, size)] ^= 1 << _below(rnd, 8)
    return "flip_field:%s" % name, bytes(b)


def fuzz_source(corpus: list[bytes], suite: int) -> Callable[[int], bytes]:
    """The genuine frame input i is made from: the corpus in turn; for suites
    2 and 3 every other input is made from a handshake frame (REQ, SRK, PROOF),
    whose suite-specific fields ``mutate_fields`` changes."""
    hs = [f for f in corpus if field_layout(f) is not None]
    if suite == 1 or not hs:
        return lambda i: corpus[i % len(corpus)]
    return lambda i: hs[(i // 2) % len(hs)] if i % 2 else corpus[(i // 2) % len(corpus)]


Mutator = Callable[[Rng, bytes, list[bytes]], tuple[str, bytes]]


def field_mutator(ids: list[bytes]) -> Mutator:
    """Every other input made from a frame with named fields (a REQ, a
    suite-2/3 SRK or PROOF) changes one of them (``mutate_fields``); the rest
    are ``mutate``'s. Also used by the serial-endpoint fuzz
    (tools/rel_boards.py) on the REQs it sends."""
    points = hostile_points()

    def m(rnd: Rng, frame: bytes, corpus: list[bytes]) -> tuple[str, bytes]:
        if field_layout(frame) is not None and _below(rnd, 2):
            got = mutate_fields(rnd, frame, points, ids)
            if got is not None:
                return got
        return mutate(rnd, frame, corpus)
    return m


def suite_mutator(suite: int, ids: list[bytes]) -> Mutator:
    """``mutate`` for suite 1; for suites 2 and 3 ``field_mutator``'s."""
    return mutate if suite == 1 else field_mutator(ids)


@dataclass
class FuzzResult:
    target: str
    inputs: int = 0
    by_mutation: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # HANDSHAKE_FAILED:code, BACKOFF
    crashes: int = 0
    hangs: int = 0
    wrong_accepts: int = 0
    bad_codes: int = 0
    good_exchanges: int = 0
    survived: bool = True
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "inputs": self.inputs,
                "by_mutation": dict(self.by_mutation), "codes": dict(self.codes),
                "answers": dict(self.answers), "events": dict(self.events),
                "crashes": self.crashes, "hangs": self.hangs,
                "wrong_accepts": self.wrong_accepts, "bad_codes": self.bad_codes,
                "good_exchanges": self.good_exchanges, "survived": self.survived,
                "notes": self.notes[:10]}


BACKOFF_MAX_MS = 3_600_000  # 15.6: the longest back-off


def judge_events(res: FuzzResult, evs: list[Event], what: str, t: int) -> int:
    """Count a hostile input's events: ERROR with a code of section 6,
    PEER_ERROR, HANDSHAKE_FAILED (a code of section 6) and BACKOFF (a delay of
    15.6) are allowed; anything else is a wrong accept. Returns the end of the
    latest back-off started (0: none)."""
    until = 0
    for e in evs:
        if e.name in (ERROR, HANDSHAKE_FAILED):
            if not 1 <= e.arg <= max(Code):
                res.bad_codes += 1
                res.notes.append("%s: %r" % (what, e))
            if e.name == ERROR:
                res.codes[_name(e.arg)] += 1
            else:
                res.events["HANDSHAKE_FAILED:" + _name(e.arg)] += 1
        elif e.name == PEER_ERROR:
            res.codes["PEER_ERROR"] += 1
        elif e.name == BACKOFF:
            res.events[BACKOFF] += 1
            if not 0 < e.arg <= BACKOFF_MAX_MS:
                res.bad_codes += 1
                res.notes.append("%s: %r" % (what, e))
            until = max(until, t + e.arg)
        else:
            res.wrong_accepts += 1
            res.notes.append("%s accepted: %r" % (what, e))
    return until


def judge_error_frame(res: FuzzResult, f: bytes, what: str) -> None:
    if not 1 <= f[3] <= max(Code):
        res.bad_codes += 1
        res.notes.append("%s answered %s" % (what, f.hex()))
    res.answers[_name(f[3])] += 1


def wait_out_backoff(duo: Duo, res: FuzzResult, until: int, lifetime_ms: int = 60_000) -> None:
    """F's half-open slots left by the fuzz expire (their ends may extend a
    suite-3 back-off, 15.10 item 5) and every back-off ends, so that a new
    handshake of the legitimate peer is admitted."""
    duo.t += lifetime_ms + 1
    evs = duo.target_step("poll")
    until = max(until, judge_events(res, evs, "poll after the fuzz", duo.t))
    duo.t = max(duo.t, until) + 1


def fuzz_station(factory: TargetFactory, role: str, cfg: dict[str, Any], n: int,
                 seed: bytes = b"fuzz", check_every: int = 100, suite: int = 1,
                 pairings: list[Pairing] | None = None) -> FuzzResult:
    """``n`` mutated and random frames into a target that holds an open
    legitimate session of ``suite`` (``pairings``: the first is the legitimate
    pair's); the session must carry data every ``check_every`` inputs and at
    the end, and a new handshake must succeed. Every event must be ERROR (a
    code of section 6), PEER_ERROR, HANDSHAKE_FAILED or BACKOFF; F may answer
    with ERROR frames and, for a REQ that is a valid request, SRK (or KEY for a
    repeated PROOF). Suites 2 and 3: F's jobs run after each REQ or PROOF
    (4.7), inputs change suite-specific fields too (``mutate_fields``), and
    F's back-offs are waited out before the last handshake."""
    duo, sid = record_session(factory, role, cfg, exchanges=6, suite=suite, pairings=pairings)
    res = FuzzResult(duo.target.name + " " + role)
    # at most ~40 checks: each costs two DATA frames of a key set that must
    # last the whole run (rotate_frames x idrks)
    check_every = max(check_every, n // 40)
    corpus = [f for _, f in duo.log]
    rnd = Drbg(seed)
    mut = suite_mutator(suite, [p.id_s for p in pairings or []])
    source = fuzz_source(corpus, suite)
    backoff_until = 0
    for i in range(n):
        duo.t += 1
        how, frame = mut(rnd, source(i), corpus)
        res.by_mutation[how] += 1
        res.inputs += 1
        try:
            got, evs = duo.target.receive(frame, duo.t)
            if suite != 1 and ftype(frame) in JOB_TYPES:  # F's share or check job (15.10)
                more, wev = duo.target.step("work", duo.t)
                got, evs = got + more, evs + wev
        except TargetHang as exc:
            res.hangs += 1
            res.notes.append("%s on %s" % (exc, frame.hex()))
            break
        except RuntimeError as exc:  # the firmware raised or died
            res.crashes += 1
            res.notes.append("%s on %s" % (exc, frame.hex()))
            break
        what = "%s (%s)" % (frame.hex(), how)
        backoff_until = max(backoff_until, judge_events(res, evs, what, duo.t))
        for f in got:
            if role == "F" and is_error_frame(f):
                judge_error_frame(res, f, what)
            elif role == "F" and answered(frame) and ftype(f) in (wire.SRK, wire.KEY):
                res.answers[wire.TYPE_NAMES[ftype(f)]] += 1  # a valid REQ / repeated PROOF
            else:
                res.wrong_accepts += 1
                res.notes.append("%s made the target send %s" % (what, f.hex()))
        if (i + 1) % check_every == 0:
            try:
                duo.exchange(sid, 1, b"fuzz %d" % i)
                res.good_exchanges += 1
            except (AssertionError, RuntimeError, UsageError) as exc:
                res.survived = False
                res.notes.append("legitimate session broken after %d inputs: %s" % (i + 1, exc))
                break
    if res.survived and not res.crashes and not res.hangs:
        try:
            duo.exchange(sid, 2, b"end")
            res.good_exchanges += 2
            if role == "F":
                assert isinstance(duo.peer, SecondStation)
                duo.peer.close(duo.t)
            else:
                duo.target_step("close")
            duo.pump()
            duo.t += 1
            if role == "F" and suite == 3:
                wait_out_backoff(duo, res, backoff_until)
            sid2 = duo.handshake()
            duo.exchange(sid2, 2, b"new")
            res.good_exchanges += 2
        except (AssertionError, RuntimeError, UsageError) as exc:
            res.survived = False
            res.notes.append("after the fuzz: %s" % exc)
    duo.target.close_target()
    return res


def differential_fuzz(fw: TargetFactory, ref: TargetFactory, role: str, cfg: dict[str, Any],
                      n: int, seed: bytes = b"diff", suite: int = 1,
                      pairings: list[Pairing] | None = None) -> FuzzResult:
    """The same session (every RNG seeded) and the same fuzz inputs to two
    implementations: they must report the same events and send the same
    frames for every input."""
    a, sid_a = record_session(fw, role, cfg, seed=seed + b" target", peer_seed=seed + b" peer",
                              suite=suite, pairings=pairings)
    b, sid_b = record_session(ref, role, cfg, seed=seed + b" target", peer_seed=seed + b" peer",
                              suite=suite, pairings=pairings)
    res = FuzzResult("%s vs %s %s" % (a.target.name, b.target.name, role))
    if [f for _, f in a.log] != [f for _, f in b.log] or sid_a != sid_b:
        res.survived = False
        res.notes.append("the seeded sessions differ before the fuzz")
        a.target.close_target()
        b.target.close_target()
        return res
    corpus = [f for _, f in a.log]
    rnd = Drbg(seed)
    mut = suite_mutator(suite, [p.id_s for p in pairings or []])
    source = fuzz_source(corpus, suite)
    for i in range(n):
        a.t += 1
        how, frame = mut(rnd, source(i), corpus)
        res.inputs += 1
        res.by_mutation[how] += 1
        out_a, ev_a = a.target.receive(frame, a.t)
        out_b, ev_b = b.target.receive(frame, a.t)
        if ftype(frame) in JOB_TYPES:  # a job either may have started: both work
            more_a, wev_a = a.target.step("work", a.t)
            more_b, wev_b = b.target.step("work", a.t)
            out_a, ev_a, out_b, ev_b = out_a + more_a, ev_a + wev_a, out_b + more_b, ev_b + wev_b
        for e in ev_a:
            res.codes[_name(e.arg) if e.name == ERROR else e.name] += 1
        if out_a != out_b or ev_a != ev_b:
            res.wrong_accepts += 1
            res.notes.append("%s (%s): %s sent %s %r, %s sent %s %r" % (
                frame.hex(), how, a.target.name, [f.hex() for f in out_a], ev_a,
                b.target.name, [f.hex() for f in out_b], ev_b))
    a.target.close_target()
    b.target.close_target()
    return res


def differential_edge_cases(fw: TargetFactory, ref: TargetFactory) -> FuzzResult:
    """Issue 12 item 5's two cases, step by step on two seeded first stations
    with the same seeded host peers: (1) a suite-2 PROOF for a WAIT_CONFIRM
    session equal to the accepted one in ``c || t`` but not in ``e_pub``
    (UNEXPECTED), then the accepted PROOF itself (the same KEY); (2) a suite-1
    REQ retransmitted after its SRK left the ring and before any poll
    (HANDSHAKE_FAILED(TIMEOUT), then a fresh SRK frame). Every step's frames
    and events must be the same."""
    p = pairing(0)
    targets = [make(role, {}, [p], b"edge target")
               for make, role in ((fw, "F"), (ref, "F"))]
    res = FuzzResult("%s vs %s F (issue 12 item 5)" % (targets[0].name, targets[1].name))
    peers = [SecondStation(SecondConfig(**HOST_S2), p, Drbg(b"edge peer"), 0) for _ in range(2)]
    script: list[tuple[str, int, bytes]] = []  # (op, t, frame) as the first target saw them

    def both(op: str, t: int, frame: bytes | None = None) -> list[bytes]:
        outs = []
        for tg in targets:
            outs.append(tg.step(op, t, frame=frame) if frame is not None else tg.step(op, t))
        res.inputs += 1
        if outs[0] != outs[1]:
            res.wrong_accepts += 1
            res.notes.append("%s %s: %s vs %s" % (op, frame.hex() if frame else "", outs[0],
                                                   outs[1]))
        for e in outs[0][1]:
            res.codes[_name(e.arg) if e.name == ERROR else e.name] += 1
        script.append((op, t, frame or b""))
        return outs[0][0]

    both("prepare", 0)
    both("work", 0)
    for s in peers:
        s.connect(10)
    req = peers[0].outputs()[0]
    peers[1].outputs()
    srk = both("receive", 20, req)[0]
    for s in peers:
        s.receive(srk, 30)
        s.run_jobs(30)
    proof = peers[0].outputs()[0]
    both("receive", 40, proof)
    key = both("work", 40)  # KEY, lost: the session stays WAIT_CONFIRM
    same_c_t = proof[:3] + bytes((proof[3] ^ 1,)) + proof[4:]
    got = both("receive", 50, same_c_t)
    if got != [wire.build_error(fsid(proof), Code.UNEXPECTED)]:
        res.wrong_accepts += 1
        res.notes.append("PROOF equal in c || t: %s" % [g.hex() for g in got])
    if both("receive", 60, proof) != key:
        res.wrong_accepts += 1
        res.notes.append("the accepted PROOF again did not get the same KEY")
    # (2) suite 1: a REQ whose SRK frame is lost, repeated after M x L, no poll
    s1 = SecondStation(SecondConfig(**HOST_S), pairing(1), Drbg(b"edge s1"), 0)
    for tg in targets:
        tg.close_target()
    targets[:] = [make("F", {"suites": [1]}, [pairing(1)], b"edge t1") for make in (fw, ref)]
    s1.connect(100)
    req1 = s1.outputs()[0]
    old = both("receive", 110, req1)
    fresh = both("receive", 60_110, req1)
    if len(fresh) != 1 or fresh == old or ftype(fresh[0]) != wire.SRK:
        res.wrong_accepts += 1
        res.notes.append("REQ after SRK removal: %s (before: %s)" % (
            [f.hex() for f in fresh], [f.hex() for f in old]))
    if res.codes["HANDSHAKE_FAILED"] != 1:
        res.wrong_accepts += 1
        res.notes.append("expected one HANDSHAKE_FAILED: %r" % dict(res.codes))
    for tg in targets:
        tg.close_target()
    return res
