"""A hostile peer: the attacks of the threat model (protocol.md section 9),
run against a station under test, with the outcome each one must have.

The station under test (the *target*) is either the firmware, run inside
MicroPython by ``tests/firmware/step_driver.py`` (:class:`MpTarget`), or this
package's own stations (:class:`HostTarget`); both answer one step at a time
with the frames they sent and the events they reported. Its legitimate
counterpart is always a host station holding the pairing. The attacker sits on
the wire between them: it records every frame (:class:`Duo`), then replays,
reflects, splices, flips bits, forges, downgrades and floods, and counts what
the target did with each frame it injected.

Every attack returns an :class:`Outcome`: how many frames were tried, the
rejection codes seen, the ERROR frames the target answered with, how many
frames were wrongly accepted (any event but ERROR / PEER_ERROR, or any frame
sent that the spec does not allow in answer; must be 0), and whether the
legitimate sessions still worked afterwards. The expected codes come from the
spec (sections 3.2, 3.8, 4.2, 4.4, 5.2); ``expected_flip_code`` is an oracle
for single-bit flips written from section 4.4 alone.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ephkey_host import crypto, keyschedule as ks, wire
from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.drbg import Drbg
from ephkey_host.errors import Code, UsageError
from ephkey_host.events import DATA, ERROR, ESTABLISHED, PEER_ERROR, Event
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

    def close_target(self) -> None:
        pass


class HostTarget(Target):
    """A host station as the target (the reference implementation)."""

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
            st.connect(t)
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
        else:
            raise ValueError(op)
        return st.outputs(), st.events()


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
        ready = self._line(setup)
        assert ready.get("ready") == role, ready

    def _line(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()
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
        self.steps += 1
        r = self._line(msg)
        return [bytes.fromhex(f) for f in r["out"]], [Event.from_json(e) for e in r["events"]]

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


# The legitimate host stations speak suite 1 (the suite every target here is
# configured for, so that both implementations can be compared).
HOST_F: dict[str, Any] = {"suites": [1]}
HOST_S: dict[str, Any] = {"offer": [1]}

def pairing(i: int = 0) -> Pairing:
    return Pairing(b"FIRST-01", b"SECOND%02d" % i, bytes((i * 7 + k) & 0xFF for k in range(16)))


# ----------------------------------------------------------------- the wire

@dataclass
class Duo:
    """A target and its legitimate host counterpart; the attacker records every
    frame they exchange (``log``: (direction, frame)) and may drop or alter
    frames in flight (``intercept``)."""

    target: Target
    peer: FirstStation | SecondStation
    t: int = 0
    log: list[tuple[str, bytes]] = field(default_factory=list)
    target_events: list[Event] = field(default_factory=list)
    peer_events: list[Event] = field(default_factory=list)
    intercept: Callable[[str, bytes], bytes | None] | None = None

    @property
    def to_target(self) -> str:
        return S2F if self.target.role == "F" else F2S

    @property
    def to_peer(self) -> str:
        return F2S if self.target.role == "F" else S2F

    def _wire(self, direction: str, frame: bytes) -> bytes | None:
        self.log.append((direction, frame))
        return self.intercept(direction, frame) if self.intercept else frame

    def feed_target(self, frames: Iterable[bytes]) -> list[bytes]:
        """Frames to the target; returns what it sent back."""
        out: list[bytes] = []
        for fr in frames:
            got = self._wire(self.to_target, fr)
            if got is None:
                continue
            o, ev = self.target.receive(got, self.t)
            self.target_events += ev
            out += o
        return out

    def feed_peer(self, frames: Iterable[bytes]) -> list[bytes]:
        for fr in frames:
            got = self._wire(self.to_peer, fr)
            if got is not None:
                self.peer.receive(got, self.t)
        self.peer_events += self.peer.events()
        return self.peer.outputs()

    def pump(self, target_out: list[bytes] | None = None) -> None:
        """Carry frames both ways until both sides are quiet."""
        pending_t = list(target_out or [])
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
        self.pump(out)
        return ev

    # -- sessions -------------------------------------------------------------

    def handshake(self) -> int:
        """A full handshake; returns the sid."""
        if self.target.role == "F":
            assert isinstance(self.peer, SecondStation)
            self.peer.connect(self.t)
            self.pump()
            assert self.peer.state == "OPEN", (self.peer.state, self.peer_events)
            return self.peer.sid
        before = len(self.target_events)
        self.target_step("connect")
        est = [e for e in self.target_events[before:] if e.name == ESTABLISHED]
        assert est, self.target_events[before:]
        return est[-1].sid

    def exchange(self, sid: int, n: int, tag: bytes = b"m") -> None:
        """n payloads each way; checks they arrive once and in order."""
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
             peer_seed: bytes | None = None) -> Duo:
    pairs = pairings or [pairing(0)]
    target = factory(role, cfg or {}, pairs, seed)
    peer: FirstStation | SecondStation
    rng: Rng = Drbg(peer_seed) if peer_seed is not None else os.urandom
    if role == "F":
        peer = SecondStation(SecondConfig(**dict(HOST_S, **(peer_cfg or {}))), pairs[peer_index],
                             rng, 0)
    else:
        peer = FirstStation(FirstConfig(**dict(HOST_F, **(peer_cfg or {}))), pairs, rng, 0)
    return Duo(target, peer)


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


def inject(duo: Duo, out: Outcome, frame: bytes, expect: set[int] | int | None = None,
           answer: bool | None = None, allow_out: Callable[[bytes], bool] | None = None,
           allow_events: Iterable[str] = ()) -> tuple[list[bytes], list[Event]]:
    """One hostile frame to the target: every event must be a rejection (its
    code in ``expect`` when given), and the only frames the target may send
    back are ERROR frames (``answer`` True: exactly one, False: none) or
    frames ``allow_out`` accepts."""
    got, evs = duo.target.receive(frame, duo.t)
    out.tried += 1
    allowed = {ERROR, PEER_ERROR, *allow_events}
    exp = {expect} if isinstance(expect, int) else expect
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
    errors_out = [f for f in got if len(f) == wire.LENGTHS[wire.ERROR] and f[1] == wire.ERROR]
    for f in errors_out:
        out.answers[_name(f[7])] += 1
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


def holder(held: list[bytes], direction: str, ftype: int,
           once: bool = True) -> Callable[[str, bytes], bytes | None]:
    """An intercept that keeps frames of ``ftype`` going ``direction`` off the
    wire (the first one only, with ``once``) and lets the rest through."""
    def hold(d: str, fr: bytes) -> bytes | None:
        if d == direction and fr[1] == ftype and not (once and held):
            held.append(fr)
            return None
        return fr
    return hold


def _name(code: int) -> str:
    try:
        return Code(code).name
    except ValueError:
        return "CODE_%d" % code


def _type_name(frame: bytes) -> str:
    if len(frame) < 2:
        return "short frame"
    return wire.TYPE_NAMES.get(frame[1], "type%d" % frame[1])


def with_sid(frame: bytes, sid: int) -> bytes:
    return frame[:3] + sid.to_bytes(4, "big") + frame[7:]


def check_alive(duo: Duo, sid: int, out: Outcome, n: int = 2) -> None:
    """The legitimate session still carries data both ways."""
    try:
        duo.exchange(sid, n, b"after")
    except (AssertionError, RuntimeError, UsageError) as e:
        out.survived = False
        out.notes.append("legitimate session broken: %s" % e)


# ------------------------------------------------------- the oracle for flips

ACCEPTS = {"F": wire.ACCEPTED_BY_F, "S": wire.ACCEPTED_BY_S}
SUITE_LENGTHS = {wire.SRK: {1: 49, 2: 73}, wire.PROOF: {1: 31, 2: 63}}


def expected_flip_code(frame: bytes, role: str, state: str, session_sid: int,
                       session_suite: int, max_payload: int = 256) -> int:
    """The code a station in ``state`` must give ``frame`` (a genuine frame
    with one bit flipped), from protocol.md 4.4 items 1-4 and 5.1-5.2.

    state: "WAIT_SRK" (S), "WAIT_KEY" (S), "WAIT_PROOF" (F), "OPEN" (both).
    Everything that survives the checks that need no key is AUTH_FAILED.
    """
    n = len(frame)
    if n < 7:
        return Code.MALFORMED
    if frame[0] != 1:
        return Code.BAD_VERSION
    t = frame[1]
    if t not in wire.TYPE_NAMES:
        return Code.BAD_TYPE
    if t not in ACCEPTS[role]:
        return Code.UNEXPECTED
    suite = frame[2]
    if t in SUITE_LENGTHS:
        if suite not in (1, 2):
            return Code.BAD_SUITE
        if n != SUITE_LENGTHS[t][suite]:
            return Code.MALFORMED
    elif t == wire.DATA:
        if not 20 <= n <= 20 + max_payload:
            return Code.MALFORMED
    elif n != wire.LENGTHS[t]:
        return Code.MALFORMED
    if t in wire.PROTECTED and frame[8] & 0xC0:
        return Code.MALFORMED
    sid = int.from_bytes(frame[3:7], "big")
    if t == wire.REQ:
        return Code.MALFORMED  # a REQ made of another frame: its suite/sid are not 0
    if role == "S" and state == "WAIT_SRK":
        if t != wire.SRK:
            return Code.UNKNOWN_SESSION
        if suite != session_suite:
            return Code.BAD_SUITE  # not in the offer (the tests offer one suite)
        if sid == 0 or sid >= wire.SID_LIMIT:
            return Code.MALFORMED
        return Code.AUTH_FAILED
    if sid != session_sid:
        return Code.UNKNOWN_SESSION
    if suite != session_suite:
        return Code.BAD_SUITE
    if role == "S" and state == "WAIT_KEY":
        return Code.AUTH_FAILED if t == wire.KEY else Code.UNEXPECTED
    if role == "F" and state == "WAIT_PROOF":
        return Code.AUTH_FAILED if t == wire.PROOF else Code.UNEXPECTED
    if t not in wire.PROTECTED:
        return Code.UNEXPECTED
    return Code.AUTH_FAILED  # kidx and seq checks: the caller handles those bytes


def flips(frame: bytes) -> Iterable[tuple[int, int, bytes]]:
    for i in range(len(frame)):
        for b in range(8):
            f = bytearray(frame)
            f[i] ^= 1 << b
            yield i, b, bytes(f)


def answered(frame: bytes) -> bool:
    """F answers a rejected frame with ERROR iff ver is 1 and type REQ/PROOF (4.4 item 5)."""
    return len(frame) >= 7 and frame[0] == 1 and frame[1] in (wire.REQ, wire.PROOF)


# ------------------------------------------------------------------- attacks

# the host first station as the counterpart of a firmware S: rotates often
PEER_F = {"rotate_frames": 4, "idrks": 64}


def record_session(factory: TargetFactory, role: str, cfg: dict[str, Any],
                   exchanges: int = 6, seed: bytes | None = None,
                   peer_seed: bytes | None = None) -> tuple[Duo, int]:
    """A legitimate session with rotations, all recorded; left open."""
    duo = make_duo(factory, role, cfg, peer_cfg=PEER_F if role == "S" else None, seed=seed,
                   peer_seed=peer_seed)
    sid = duo.handshake()
    duo.exchange(sid, exchanges)
    return duo, sid


def attack_replay_existing(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Every recorded frame sent again into the open session it came from."""
    duo, sid = record_session(factory, role, cfg)
    out = Outcome("replay into the existing session", duo.target.name + " " + role)
    mine = duo.frames(duo.to_target)
    for fr in mine:
        duo.t += 1
        if fr[1] == wire.REQ:  # 4.2 rule 1: a replay into an open session, no answer
            inject(duo, out, fr, Code.REPLAY, answer=False)
        elif fr[1] == wire.PROOF:  # S has spoken since: UNEXPECTED, answered
            inject(duo, out, fr, Code.UNEXPECTED, answer=True)
        elif fr[1] in (wire.SRK, wire.KEY):
            inject(duo, out, fr, Code.UNEXPECTED, answer=False)
        else:
            inject(duo, out, fr, {Code.REPLAY, Code.BAD_KEY_INDEX}, answer=False)
    check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def attack_replay_new(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Every recorded frame of a finished session sent into a new one: as it
    was (its sid is gone) and with the sid rewritten to the new session's."""
    duo, old_sid = record_session(factory, role, cfg)
    recorded = duo.frames(duo.to_target)
    # the old session ends, a new one starts
    if role == "F":
        assert isinstance(duo.peer, SecondStation)
        duo.peer.close(duo.t)
        duo.pump()
    else:
        duo.target_step("close")
    duo.t += 1
    new_sid = duo.handshake()
    out = Outcome("replay into a new session", duo.target.name + " " + role)
    for fr in recorded:
        duo.t += 1
        if fr[1] == wire.REQ:
            # A REQ carries no proof of freshness: F must treat it as a new
            # request (4.2): one SRK frame, a new sid, no event.
            srks: list[bytes] = []
            got, _ = inject(duo, out, fr, allow_out=lambda f: f[1] == wire.SRK)
            srks = [f for f in got if f[1] == wire.SRK]
            if len(srks) != 1 or with_sid(srks[0], 0) == with_sid(duo.frames(F2S)[0], 0):
                out.unexpected.append("replayed REQ: expected one fresh SRK frame, got %s"
                                      % [f.hex() for f in got])
            else:
                out.notes.append("replayed REQ answered with a fresh SRK frame (new sid %d)"
                                 % int.from_bytes(srks[0][3:7], "big"))
            continue
        # as recorded: the old sid names no session
        exp_answer = role == "F" and fr[1] == wire.PROOF
        if role == "S" and fr[1] == wire.SRK:
            inject(duo, out, fr, Code.UNEXPECTED if fr[3:7] == new_sid.to_bytes(4, "big")
                   else Code.UNKNOWN_SESSION)
        else:
            inject(duo, out, fr, Code.UNKNOWN_SESSION, answer=exp_answer)
        # rewritten into the new session
        moved = with_sid(fr, new_sid)
        if fr[1] in wire.PROTECTED:
            inject(duo, out, moved, {Code.AUTH_FAILED, Code.BAD_KEY_INDEX}, answer=False)
        elif fr[1] == wire.PROOF:
            inject(duo, out, moved, Code.UNEXPECTED, answer=True)  # new session is OPEN
        else:
            inject(duo, out, moved, Code.UNEXPECTED, answer=False)  # SRK/KEY in OPEN at S
    check_alive(duo, new_sid, out)
    del old_sid
    duo.target.close_target()
    return out


def attack_replay_into_handshake(factory: TargetFactory, role: str,
                                 cfg: dict[str, Any]) -> Outcome:
    """The recorded handshake frames of an earlier session, sid rewritten,
    sent into a new handshake waiting for exactly that frame: the fresh
    nonces make them fail; the new handshake then completes."""
    duo, _ = record_session(factory, role, cfg, exchanges=1)
    rec_to_target = duo.frames(duo.to_target)
    if role == "F":
        assert isinstance(duo.peer, SecondStation)
        duo.peer.close(duo.t)
        duo.pump()
    else:
        duo.target_step("close")
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
        sid = int.from_bytes(held[0][3:7], "big")
        old_proof = next(f for f in rec_to_target if f[1] == wire.PROOF)
        inject(duo, out, with_sid(old_proof, sid), Code.AUTH_FAILED, answer=True)
        got = duo.feed_target(held)
        duo.pump(got)
    else:
        old_srk = next(f for f in rec_to_target if f[1] == wire.SRK)
        old_key = next(f for f in rec_to_target if f[1] == wire.KEY)
        got, _ = duo.target.step("connect", duo.t)
        req = got[0]
        inject(duo, out, old_srk, Code.AUTH_FAILED)  # KEK2 depends on the new n_s
        assert isinstance(duo.peer, FirstStation)
        duo.peer.receive(req, duo.t)
        srk = duo.peer.outputs()[0]
        proof, _ = duo.target.receive(srk, duo.t)
        sid = int.from_bytes(srk[3:7], "big")
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
        t = fr[1]
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
        sid_b = int.from_bytes(held[0][3:7], "big")
        proof_a = next(f for f in a.frames(S2F) if f[1] == wire.PROOF)
        inject(b, out, with_sid(proof_a, sid_b), Code.AUTH_FAILED, answer=True)
        inject(b, out, held[0][:7] + proof_a[7:19] + held[0][19:], Code.AUTH_FAILED,
               answer=True)
        b.pump(b.feed_target(held))
        b.exchange(sid_b, 5)
        for src, dst_sid, dst in ((a, sid_b, b), (b, sid_a, a)):
            for fr in src.frames(S2F):
                if fr[1] in wire.PROTECTED:
                    dst.t += 1
                    inject(dst, out, with_sid(fr, dst_sid),
                           {Code.AUTH_FAILED, Code.BAD_KEY_INDEX}, answer=False)
        check_alive(a, sid_a, out)
        check_alive(b, sid_b, out)
    else:
        # two first stations (two pairings of one S are not possible: S holds
        # one pairing): the same S target talks to F1, then F2's frames are
        # spliced into its session with F1
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
            if fr[1] in wire.PROTECTED:
                inject(d2, out, with_sid(fr, sid2), {Code.AUTH_FAILED, Code.BAD_KEY_INDEX},
                       answer=False)
            elif fr[1] == wire.KEY:
                inject(d2, out, with_sid(fr, sid2), Code.UNEXPECTED, answer=False)
        check_alive(d2, sid2, out)
    target.close_target()
    return out


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
    if not any(e.name == ESTABLISHED for e in evs) or not any(f[1] == wire.KEY for f in got):
        out.survived = False
        out.unexpected.append("not established: %r" % evs)
    out.notes.append("interval moved from 0 to %d; accepted, as 4.1 says" % ((iv - 1000 + L - 1)
                                                                            // iv))
    duo.target.close_target()
    results.append(out)

    # 2. at request_time + L: SRK_EXPIRED, answered
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

    # 4. a PROOF made with the SRK of an earlier interval (the attacker has it:
    #    the target's RNG is seeded, so the draws are known)
    out = Outcome("PROOF under the SRK of an earlier interval", "?")
    seed = b"stale-srk"
    p = pairing(0)
    target = factory("F", fcfg, [p], seed)
    out.target = target.name + " F"
    drbg = Drbg(seed)
    s_old = SecondStation(SecondConfig(**HOST_S), p, os.urandom, 0)
    d_old = Duo(target, s_old)
    sid_old = d_old.handshake()
    old_srk = drbg(16)  # the first draw of F: SRK of interval 0 (4.2 order)
    d_old.target_step("close", sid=sid_old)
    t_new = iv * 1 + 5
    s_new = SecondStation(SecondConfig(**HOST_S), p, os.urandom, t_new)
    d_new = Duo(target, s_new, t=t_new)
    held2: list[bytes] = []
    d_new.intercept = holder(held2, S2F, wire.PROOF, once=False)
    s_new.connect(t_new)
    d_new.pump()
    d_new.intercept = None
    req = next(f for d, f in d_new.log if d == S2F and f[1] == wire.REQ)
    srk_frame = next(f for d, f in d_new.log if d == F2S and f[1] == wire.SRK)
    forged = forge_proof(p.ps, req, srk_frame, old_srk)
    inject(d_new, out, forged, Code.AUTH_FAILED, answer=True)
    d_new.pump(d_new.feed_target(held2))
    sid_new = int.from_bytes(srk_frame[3:7], "big")
    out.survived = any(e.name == ESTABLISHED and e.sid == sid_new for e in d_new.target_events)
    target.close_target()
    results.append(out)
    return results


def forge_proof(ps: bytes, req: bytes, srk_frame: bytes, srk: bytes,
                spv: bytes | None = None) -> bytes:
    """A suite-1 PROOF for this transcript under ``srk`` (right or wrong),
    carrying ``spv`` (default: the right one for ``ps``)."""
    th1 = ks.th1(req)
    th2 = ks.th2(th1, srk_frame)
    n_s, n_f = req[15:31], srk_frame[7:23]
    sid = int.from_bytes(srk_frame[3:7], "big")
    k3 = ks.k3(n_s, n_f, srk, th2)
    header = wire.header(wire.PROOF, 1, sid)
    value = spv if spv is not None else ks.spv(ps, th2)
    return wire.build_proof(1, sid, ks.seal_proof(k3, sid, header, value))


def attack_guess_parameter(factory: TargetFactory, cfg: dict[str, Any],
                           tries: int = 200) -> list[Outcome]:
    """Without PS: random PROOFs (AUTH_FAILED); with the session's SRK known
    (its compromise, section 9) but not PS: SPV guesses (BAD_PROOF), and the
    KEY frame of a session in that interval stays closed."""
    results = []
    seed = b"guess"
    p = pairing(0)
    target = factory("F", cfg, [p], seed)
    out1 = Outcome("guess the shared parameter (no SRK)", target.name + " F")
    out2 = Outcome("guess the shared parameter (SRK compromised)", target.name + " F")
    srk = Drbg(seed)(16)  # F's first draw
    duo = Duo(target, SecondStation(SecondConfig(**HOST_S), p, os.urandom, 0))
    held: list[bytes] = []
    duo.intercept = holder(held, S2F, wire.PROOF, once=False)
    assert isinstance(duo.peer, SecondStation)
    duo.peer.connect(0)
    duo.pump()
    duo.intercept = None
    req = duo.frames(S2F)[0]
    srk_frame = duo.frames(F2S)[0]
    sid = int.from_bytes(srk_frame[3:7], "big")
    rnd = Drbg(b"attacker")
    for _ in range(tries):
        duo.t += 1
        inject(duo, out1, wire.build_proof(1, sid, rnd(24)), Code.AUTH_FAILED, answer=True)
    for i in range(tries):
        duo.t += 1
        guess_ps = rnd(16) if i % 2 else b"%016d" % i
        inject(duo, out2, forge_proof(guess_ps, req, srk_frame, srk), Code.BAD_PROOF,
               answer=True)
    # the legitimate PROOF is still accepted: rejected guesses changed nothing
    duo.pump(duo.feed_target(held))
    for o in (out1, out2):
        o.survived = any(e.name == ESTABLISHED and e.sid == sid for e in duo.target_events)
    # with the SRK and no PS, KEY cannot be opened (MS needs PS)
    key = next((f for d, f in duo.log if d == F2S and f[1] == wire.KEY), None)
    if key is not None:
        proof = held[0]
        th3 = ks.th3(ks.th2(ks.th1(req), srk_frame), proof)
        opened = 0
        for _ in range(tries):
            ms = ks.master_secret(th3, rnd(16), srk)
            if crypto.kw_unwrap(ks.kek(ms, 0), key[7:31]) is not None:
                opened += 1
        out2.notes.append("KEY unwrap with the SRK and %d guessed PS: %d opened" % (tries, opened))
        out2.wrong_accepts += opened
    check_alive(duo, sid, out1)
    target.close_target()
    results += [out1, out2]
    return results


def attack_flipped_bits(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Every single-bit flip of every handshake frame the target receives,
    in the state that waits for it, and of a protected frame in OPEN; the
    code must be the one of ``expected_flip_code``; the genuine frame then
    goes through."""
    out = Outcome("single-bit flips (SRK, KEY, PROOF, DATA, ...)", "?")
    duo = make_duo(factory, role, cfg)
    out.target = duo.target.name + " " + role
    if role == "S":
        got, _ = duo.target.step("connect", 0)
        assert isinstance(duo.peer, FirstStation)
        duo.peer.receive(got[0], 0)
        srk = duo.peer.outputs()[0]
        sid = int.from_bytes(srk[3:7], "big")
        for _i, _b, f in flips(srk):
            inject(duo, out, f, expected_flip_code(f, "S", "WAIT_SRK", 0, srk[2]))
        proofs, _ = duo.target.receive(srk, 0)
        duo.peer.receive(proofs[0], 0)
        key = duo.peer.outputs()[0]
        for _i, _b, f in flips(key):
            inject(duo, out, f, expected_flip_code(f, "S", "WAIT_KEY", sid, key[2]))
        duo.pump(duo.feed_target([key]))
    else:
        assert isinstance(duo.peer, SecondStation)
        duo.peer.connect(0)
        req = duo.peer.outputs()[0]
        for _i, _b, f in flips(req):
            # a flipped REQ may be a valid request from another (unknown) peer,
            # or from this peer with another nonce: then F answers with an SRK
            exp = _req_flip_codes(f)
            inject(duo, out, f, exp, allow_out=lambda fr: fr[1] == wire.SRK)
        # A flipped offer bit made a request with this n_s that F holds now:
        # start afresh with a new nonce (see attack_offer_rewrite for why).
        duo.peer.close(0)
        duo.peer.connect(0)
        req = duo.peer.outputs()[0]
        srk_out, _ = duo.target.receive(req, 0)
        srk = next(f for f in srk_out if f[1] == wire.SRK)
        duo.peer.receive(srk, 0)
        proof = duo.peer.outputs()[0]
        sid = int.from_bytes(srk[3:7], "big")
        for _i, _b, f in flips(proof):
            code = expected_flip_code(f, "F", "WAIT_PROOF", sid, proof[2])
            inject(duo, out, f, code, answer=answered(f))
        duo.pump(duo.feed_target([proof]))
    # protected frames in OPEN
    duo.t = 10
    if role == "F":
        assert isinstance(duo.peer, SecondStation)
        duo.peer.send_data(b"flip me", duo.t)
    else:
        assert isinstance(duo.peer, FirstStation)
        duo.peer.send_data(sid, b"flip me", duo.t)
    data = duo.peer.outputs()[0]
    for i, _b, f in flips(data):
        code = expected_flip_code(f, role, "OPEN", sid, data[2])
        if code == Code.AUTH_FAILED and i == 7:
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


def _req_flip_codes(f: bytes) -> set[int]:
    if f[0] != 1:
        return {Code.BAD_VERSION}
    if f[1] not in wire.TYPE_NAMES:
        return {Code.BAD_TYPE}
    if f[1] not in wire.ACCEPTED_BY_F:
        return {Code.UNEXPECTED}
    if f[1] != wire.REQ:
        return {Code.MALFORMED, Code.BAD_SUITE}  # a 32-byte non-REQ: length or suite
    if f[2] != 0 or f[3:7] != bytes(4) or f[31] == 0 or f[31] & 0x80:
        return {Code.MALFORMED}
    return {Code.UNKNOWN_PEER, Code.BAD_SUITE}  # other id_s / offer; or accepted


def attack_downgrade(factory: TargetFactory, role: str, cfg: dict[str, Any]) -> Outcome:
    """Other versions (never answered), the suite byte of an established
    session changed, REQ offers with no common suite or invalid bits, and (at
    S) an SRK frame whose suite S did not offer."""
    duo, sid = record_session(factory, role, cfg, exchanges=2)
    out = Outcome("downgrade version / suite", duo.target.name + " " + role)
    for fr in duo.frames(duo.to_target):
        for ver in (0, 2, 0x81, 0xFF):
            duo.t += 1
            inject(duo, out, bytes((ver,)) + fr[1:], Code.BAD_VERSION, answer=False)
        if fr[1] in wire.PROTECTED or fr[1] in (wire.PROOF, wire.KEY):
            for suite in (0, 2, 3, 0xFF):
                if suite == fr[2]:
                    continue
                duo.t += 1
                exp = Code.BAD_SUITE
                inject(duo, out, fr[:2] + bytes((suite,)) + fr[3:], {exp, Code.MALFORMED},
                       answer=answered(fr) and role == "F")
    if role == "F":
        req = next(f for f in duo.frames(S2F) if f[1] == wire.REQ)
        other = pairing(5).id_s  # not paired: not reached; use the paired id
        del other
        for offer, exp in ((0x00, Code.MALFORMED), (0x80, Code.MALFORMED),
                           (0x81, Code.MALFORMED), (0x40, Code.BAD_SUITE),
                           (0x20, Code.BAD_SUITE)):
            duo.t += 1
            fresh = req[:15] + os.urandom(16) + bytes((offer,))
            inject(duo, out, fresh, exp, answer=True)
    check_alive(duo, sid, out)
    duo.target.close_target()
    return out


def attack_offer_rewrite(factory: TargetFactory, s_factory: TargetFactory,
                         offer: list[int], strip_to: int) -> Outcome:
    """The attacker rewrites the offer of S's first REQ (e.g. suites {1,2} ->
    {1}). TH1 binds the offer, so S must refuse the SRK frame made for the
    rewritten REQ; and when S then sends its genuine REQ again, F must answer
    with *the same* SRK frame (4.2 rule 1), so the handshake can only fail:
    S must never end up in a suite other than the highest common one.
    Both stations are the targets' kind (firmware against firmware)."""
    p = pairing(0)
    f = factory("F", {"suites": offer}, [p], None)
    s = s_factory("S", {"offer": offer}, [p], None)
    out = Outcome("REQ offer rewritten on the wire (downgrade)", f.name + " F / " + s.name + " S")
    t = 0
    req, _ = s.step("connect", t)
    tampered = bytearray(req[0])
    tampered[31] = strip_to
    srk1, _ = f.receive(bytes(tampered), t)
    out.tried += 1
    _, evs = s.receive(srk1[0], t)
    out.codes.update(_name(e.arg) for e in evs if e.name == ERROR)
    established = None
    for _ in range(10):
        t += 1000
        frames, evs = s.step("poll", t)
        if any(e.name == "HANDSHAKE_FAILED" for e in evs):
            out.notes.append("handshake failed: %r" % evs)
            break
        for fr in frames:
            back, _ = f.receive(fr, t)
            if fr[1] == wire.REQ and back and back[0] != srk1[0]:
                # 4.2 rule 1: the genuine REQ repeats n_s with another offer,
                # so it is a new request and gets its own SRK frame
                out.notes.append("genuine REQ answered as a new request")
            for b in back:
                more, evs2 = s.receive(b, t)
                out.codes.update(_name(e.arg) for e in evs2 if e.name == ERROR)
                for e in evs2:
                    if e.name == ESTABLISHED:
                        established = b[2]
                for m in more:
                    back2, _ = f.receive(m, t)
                    for b2 in back2:
                        _, evs3 = s.receive(b2, t)
                        for e in evs3:
                            if e.name == ESTABLISHED:
                                established = b2[2]
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
        req = wire.build_req(id_s, rnd(16), 1)
        d_legit.t = t
        got, _ = inject(d_legit, out, req, {Code.UNKNOWN_PEER}, answer=id_s not in
                        {p.id_s for p in flooders}, allow_out=lambda f: f[1] == wire.SRK)
        srk_answers += sum(1 for f in got if f[1] == wire.SRK)
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
    res += attack_stale_srk(factory, cfg_f)
    res += attack_guess_parameter(factory, cfg_f, guesses)
    res.append(attack_flood(factory, cfg_f, flood))
    res.append(attack_flood(factory, cfg_f, flood, paired_flooders=5))
    return res


# ------------------------------------------------------------------- fuzzing

MUTATIONS = ("flip", "bytes", "truncate", "extend", "splice", "header", "type", "length",
             "random", "zero", "replay")


def mutate(rnd: Rng, frame: bytes, corpus: list[bytes]) -> tuple[str, bytes]:
    """One fuzz input made from a genuine frame: (mutation, bytes)."""
    def below(n: int) -> int:
        return int.from_bytes(rnd(4), "big") % max(n, 1)

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
    elif how == "header" and len(b) >= 7:
        b[below(7)] = below(256)
    elif how == "type" and len(b) >= 2:
        b[1] = (1, 2, 3, 4, 5, 6, 7, 8, 15, 0, 9, 14, 255)[below(13)]
    elif how == "length":
        b = b[:7] + bytearray(rnd(below(300)))
    elif how == "random":
        b = bytearray(rnd(below(320)))
    elif how == "zero":
        b = bytearray(below(300))
    # "replay": the genuine frame as it is
    return how, bytes(b)


@dataclass
class FuzzResult:
    target: str
    inputs: int = 0
    by_mutation: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
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
                "answers": dict(self.answers), "crashes": self.crashes, "hangs": self.hangs,
                "wrong_accepts": self.wrong_accepts, "bad_codes": self.bad_codes,
                "good_exchanges": self.good_exchanges, "survived": self.survived,
                "notes": self.notes[:10]}


def fuzz_station(factory: TargetFactory, role: str, cfg: dict[str, Any], n: int,
                 seed: bytes = b"fuzz", check_every: int = 100) -> FuzzResult:
    """``n`` mutated and random frames into a target that holds an open
    legitimate session (F also a half-open one); the session must carry data
    every ``check_every`` inputs and at the end, and a new handshake must
    succeed. Every event must be ERROR (code 1..18) or PEER_ERROR; F may
    answer with ERROR frames and, for a REQ that is a valid request, SRK."""
    duo, sid = record_session(factory, role, cfg, exchanges=6)
    res = FuzzResult(duo.target.name + " " + role)
    # at most ~40 checks: each costs two DATA frames of a key set that must
    # last the whole run (rotate_frames x idrks)
    check_every = max(check_every, n // 40)
    corpus = [f for _, f in duo.log]
    rnd = Drbg(seed)
    for i in range(n):
        duo.t += 1
        how, frame = mutate(rnd, corpus[i % len(corpus)], corpus)
        res.by_mutation[how] += 1
        res.inputs += 1
        try:
            got, evs = duo.target.receive(frame, duo.t)
        except RuntimeError as exc:  # the firmware raised or died
            res.crashes += 1
            res.notes.append("%s on %s" % (exc, frame.hex()))
            break
        for e in evs:
            if e.name == ERROR:
                if not 1 <= e.arg <= 18:
                    res.bad_codes += 1
                res.codes[_name(e.arg)] += 1
            elif e.name == PEER_ERROR:
                res.codes["PEER_ERROR"] += 1
            else:
                res.wrong_accepts += 1
                res.notes.append("%s accepted (%s): %r" % (frame.hex(), how, e))
        for f in got:
            if role == "F" and len(f) == 8 and f[1] == wire.ERROR:
                res.answers[_name(f[7])] += 1
            elif role == "F" and frame[1:2] in (bytes((wire.REQ,)), bytes((wire.PROOF,))) and (
                    f[1] in (wire.SRK, wire.KEY)):
                res.answers[wire.TYPE_NAMES[f[1]]] += 1  # a valid REQ / repeated PROOF
            else:
                res.wrong_accepts += 1
                res.notes.append("%s (%s) made the target send %s" % (frame.hex(), how, f.hex()))
        if (i + 1) % check_every == 0:
            try:
                duo.exchange(sid, 1, b"fuzz %d" % i)
                res.good_exchanges += 1
            except (AssertionError, RuntimeError, UsageError) as exc:
                res.survived = False
                res.notes.append("legitimate session broken after %d inputs: %s" % (i + 1, exc))
                break
    if res.survived and not res.crashes:
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
            sid2 = duo.handshake()
            duo.exchange(sid2, 2, b"new")
            res.good_exchanges += 2
        except (AssertionError, RuntimeError, UsageError) as exc:
            res.survived = False
            res.notes.append("after the fuzz: %s" % exc)
    duo.target.close_target()
    return res


def differential_fuzz(fw: TargetFactory, ref: TargetFactory, role: str, cfg: dict[str, Any],
                      n: int, seed: bytes = b"diff") -> FuzzResult:
    """The same session (every RNG seeded) and the same fuzz inputs to two
    implementations: they must report the same events and send the same
    frames for every input."""
    a, sid_a = record_session(fw, role, cfg, seed=seed + b" target", peer_seed=seed + b" peer")
    b, sid_b = record_session(ref, role, cfg, seed=seed + b" target", peer_seed=seed + b" peer")
    res = FuzzResult("%s vs %s %s" % (a.target.name, b.target.name, role))
    if [f for _, f in a.log] != [f for _, f in b.log] or sid_a != sid_b:
        res.survived = False
        res.notes.append("the seeded sessions differ before the fuzz")
        a.target.close_target()
        b.target.close_target()
        return res
    corpus = [f for _, f in a.log]
    rnd = Drbg(seed)
    for i in range(n):
        a.t += 1
        how, frame = mutate(rnd, corpus[i % len(corpus)], corpus)
        res.inputs += 1
        res.by_mutation[how] += 1
        out_a, ev_a = a.target.receive(frame, a.t)
        out_b, ev_b = b.target.receive(frame, a.t)
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
