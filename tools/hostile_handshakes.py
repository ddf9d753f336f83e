"""Fuzzing the handshake states of suites 2 and 3 (protocol.md 3.9, 4.5,
15.10): the hostile frames reach a station while it waits for exactly the
frame they imitate, where the suite-specific fields are checked.

``fuzz_first`` holds a first station under test in WAIT_PROOF, round after
round, with a legitimate host second station: each round is a genuine
handshake (then DATA both ways and a close), or mutated PROOFs for the
half-open slot (hostile points in ``e_pub`` / ``Y_s``, flipped bits in ``c``,
``t``, the points, the sid, a cut or grown frame), or a flood of REQs (fresh
nonces, another suite, a record without a user secret, an unknown id_s), or,
suite 3, a user with the wrong secret. Suite 3 runs a siege of failing rounds
long enough to start the back-off, checks that F then refuses REQs with
ERROR(BACKOFF) and waits it out.

``fuzz_second`` holds a second station under test in WAIT_SRK (mutated SRK
frames: hostile ``srk_pub`` / ``Y_f``, the suite byte, ``n_f``, ``auth``) and
in WAIT_KEY (mutated KEY frames), with a legitimate host first station.

Each mutated frame's verdict is checked against the spec's order of checks
(``proof_code``, ``srk_code``); every event must be one a rejection may
report (``hostile.judge_events``); a frame out must be the one the spec
allows. :class:`Lockstep` runs two implementations as one target, seeded
alike, and records every step on which they differ: the differential run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hostile as H
from ephkey_host import crypto, wire
from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.drbg import Drbg
from ephkey_host.errors import Code
from ephkey_host.events import DATA, ERROR, ESTABLISHED, HANDSHAKE_FAILED, Event
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation

COUNTED = frozenset((Code.AUTH_FAILED, Code.WRONG_CODE, Code.BAD_PROOF))  # 4.5, 15.10 item 4
ROUND_MS = 40


class Lockstep(H.Target):
    """Two targets of one role, seeded alike, driven as one: every step goes
    to both; the first one's answer is returned and every difference noted."""

    def __init__(self, a: H.Target, b: H.Target) -> None:
        self.a, self.b = a, b
        self.role = a.role
        self.name = "%s vs %s" % (a.name, b.name)
        self.differences: list[str] = []
        self.steps = 0

    def step(self, op: str, t: int, **kw: Any) -> tuple[list[bytes], list[Event]]:
        ra = self.a.step(op, t, **kw)
        rb = self.b.step(op, t, **kw)
        self.steps += 1
        if ra != rb:
            frame = kw.get("frame")
            self.differences.append("%s %s at %d: %s sent %s %r, %s sent %s %r" % (
                op, bytes(frame).hex() if frame is not None else "", t, self.a.name,
                [f.hex() for f in ra[0]], ra[1], self.b.name, [f.hex() for f in rb[0]], rb[1]))
        return ra

    def close_target(self) -> None:
        self.a.close_target()
        self.b.close_target()


def lockstep(fw: H.TargetFactory, ref: H.TargetFactory) -> H.TargetFactory:
    def make(role: str, cfg: dict[str, Any], pairs: list[Pairing], seed: bytes | None
             ) -> H.Target:
        assert seed is not None, "a differential run needs seeded stations"
        return Lockstep(fw(role, cfg, pairs, seed), ref(role, cfg, pairs, seed))
    return make


# ----------------------------------------------------------- the spec's verdicts

def proof_code(frame: bytes, sid: int, suite: int, alive: bool) -> int:
    """The code F gives a PROOF that is not the genuine one, for the half-open
    slot ``sid`` of ``suite`` (``alive``: still WAIT_PROOF), from 4.4 item 2,
    4.5 and 15.10 item 4: length, sid, the slot's length, then suite 2's ``t``
    (AUTH_FAILED); suite 3's K (a low-order ``Y_s``: AUTH_FAILED) and ``t``
    (WRONG_CODE, whatever else changed: ``t`` covers the frame)."""
    if len(frame) < 3 or len(frame) not in wire.PROOF_LENGTHS.values():
        return Code.MALFORMED
    if H.fsid(frame) != sid or not alive:
        return Code.UNKNOWN_SESSION
    if len(frame) != wire.PROOF_LENGTHS[suite]:
        return Code.MALFORMED
    if suite == 3 and crypto.x25519_low_order(frame[3:35]):
        return Code.AUTH_FAILED
    return Code.WRONG_CODE if suite == 3 else Code.AUTH_FAILED


def srk_code(frame: bytes, suite: int, offer: int) -> int | None:
    """What S in WAIT_SRK does with a changed SRK frame (4.4 items 2 and 4,
    5.1, 3.9, 15.10): a code, or None when S must take it (suite 3 has no
    ``auth``: S cannot tell a changed frame, CPace and the proof will)."""
    if len(frame) < 4:
        return Code.MALFORMED
    if frame[3] not in wire.SRK_LENGTHS:
        return Code.BAD_SUITE
    if len(frame) != wire.SRK_LENGTHS[frame[3]]:
        return Code.MALFORMED
    if frame[3] != offer:
        return Code.BAD_SUITE
    if H.fsid(frame) == 0:
        return Code.MALFORMED
    if suite == 2:
        return Code.AUTH_FAILED  # auth covers bytes 0-47, and auth itself
    if crypto.x25519_low_order(frame[48:80]) or crypto.x25519_low_order(frame[16:48]):
        return Code.AUTH_FAILED  # K or DH all zeros: after the job, nothing sent
    return None


# ----------------------------------------------------------------- plumbing

class Run:
    """One fuzz run's clock, result and the target's steps, each judged."""

    def __init__(self, target: H.Target, res: H.FuzzResult) -> None:
        self.target = target
        self.res = res
        self.t = 0
        self.backoff_until = 0  # the target's, from its BACKOFF events

    def step(self, op: str, what: str, **kw: Any) -> tuple[list[bytes], list[Event]]:
        out, evs = self.target.step(op, self.t, **kw)
        if op == "receive" and H.ftype(kw["frame"]) in H.JOB_TYPES or op in ("connect",
                                                                            "prepare"):
            more, wev = self.target.step("work", self.t)
            out, evs = out + more, evs + wev
        return out, evs

    def hostile(self, frame: bytes, how: str) -> tuple[list[bytes], list[Event]]:
        """A hostile frame in: its events judged (no acceptance, codes of section 6)."""
        self.res.inputs += 1
        self.res.by_mutation[how] += 1
        out, evs = self.step("receive", how, frame=frame)
        what = "%s (%s)" % (frame.hex(), how)
        self.backoff_until = max(self.backoff_until, H.judge_events(self.res, evs, what, self.t))
        return out, evs

    def expect(self, ok: bool, note: str) -> None:
        if not ok:
            self.res.wrong_accepts += 1
            self.res.notes.append(note)


def _error_codes(evs: list[Event]) -> list[int]:
    return [e.arg for e in evs if e.name == ERROR]


# ------------------------------------------------------------ F under test

def fuzz_first(factory: H.TargetFactory, suite: int, rounds: int, seed: bytes = b"hs F"
               ) -> H.FuzzResult:
    """``rounds`` handshake rounds against a first station accepting ``suite``
    (2 or 3), paired with the legitimate S (record 0: PS, or the user's secret
    for suite 3) and with a PS record (record 1, no user secret)."""
    pairs = [H.suite_pairing(suite, 0), H.pairing(1)]
    cfg = {"suites": [suite, 2] if suite == 3 else [2], "sessions": 4}
    target = factory("F", cfg, pairs, seed + b" target")
    run = Run(target, H.FuzzResult(target.name + " F handshakes, suite %d" % suite))
    res = run.res
    rnd = Drbg(seed)
    points = H.hostile_points()
    ids = [p.id_s for p in pairs] + [b"STRANGER"]
    tries = 1 if suite == 3 else FirstConfig().proof_tries
    siege = range(6, 18) if suite == 3 else range(0)  # rounds with no genuine PROOF

    def second(r: int, secret: bytes | None = H.secret_for(suite)) -> SecondStation:
        s = SecondStation(SecondConfig(offer=[suite]), pairs[0].for_second(),
                          Drbg(seed + b" S %d" % r), run.t)
        s.connect(run.t, secret)
        return s

    with _failures_counted(res):
        for r in range(rounds):
            run.t += ROUND_MS
            for _ in range(2):  # F's key pairs of this interval and the next (3.9)
                run.step("prepare", "prepare")
            s = second(r)
            (req,) = s.outputs()
            if run.t < run.backoff_until:  # 15.10: refused, no slot, no job
                out, evs = run.hostile(req, "REQ while backing off")
                run.expect(out == [wire.build_error(0, Code.BACKOFF)]
                           and _error_codes(evs) == [Code.BACKOFF],
                           "REQ during the back-off: %s %r" % ([o.hex() for o in out], evs))
                run.t = run.backoff_until + 1
                continue
            kind = _pick(rnd, r, suite, siege)
            if kind == "flood":
                _flood(run, rnd, req, ids, points)
                continue
            if kind == "wrong secret":
                s = second(r, b"not the user's secret")
                (req,) = s.outputs()
            out, evs = run.step("receive", "REQ", frame=req)
            run.backoff_until = max(run.backoff_until,
                                    H.judge_events(res, evs, "genuine REQ", run.t))
            if [H.ftype(o) for o in out] != [wire.SRK]:
                res.notes.append("round %d: REQ answered %s %r" % (r, [o.hex() for o in out],
                                                                   evs))
                continue
            srk = out[0]
            sid = H.fsid(srk)
            s.receive(srk, run.t)
            s.run_jobs(run.t)
            (proof,) = s.outputs()
            if kind == "wrong secret":
                out, evs = run.hostile(proof, "PROOF of a wrong secret")
                run.expect(out == [wire.build_error(sid, Code.WRONG_CODE)]
                           and _error_codes(evs) == [Code.WRONG_CODE]
                           and (HANDSHAKE_FAILED, Code.WRONG_CODE) in [(e.name, e.arg)
                                                                        for e in evs],
                           "wrong secret: %s %r" % ([o.hex() for o in out], evs))
                continue
            alive, fails = True, 0
            if kind == "hostile":
                for _ in range(1 + H._below(rnd, 3)):
                    how, bad = bad_proof(rnd, proof, points)
                    code = proof_code(bad, sid, suite, alive)
                    out, evs = run.hostile(bad, how)
                    run.expect(out == [wire.build_error(H.fsid(bad), code)]
                               and _error_codes(evs) == [code],
                               "%s (%s): expected %s, got %s %r" % (
                                   bad.hex(), how, Code(code).name, [o.hex() for o in out],
                                   evs))
                    if code in COUNTED and alive:
                        fails += 1
                        alive = fails < tries
            if kind == "hostile" and (r in siege or H._below(rnd, 2)):
                continue  # the half-open slot is left to the next REQ or its deadline
            out, evs = run.step("receive", "genuine PROOF", frame=proof)
            run.backoff_until = max(run.backoff_until,
                                    H.judge_events(res, [e for e in evs if e.name != ESTABLISHED],
                                                   "genuine PROOF", run.t))
            if not alive:
                run.expect(out == [wire.build_error(sid, Code.UNKNOWN_SESSION)],
                           "genuine PROOF after the slot was freed: %s %r" % (
                               [o.hex() for o in out], evs))
                continue
            run.expect([(e.name, e.sid) for e in evs] == [(ESTABLISHED, sid)]
                       and [H.ftype(o) for o in out] == [wire.KEY],
                       "genuine PROOF after %d failures: %s %r" % (
                           fails, [o.hex() for o in out], evs))
            if out:
                _use_session_at_f(run, s, sid, out[0])
    _finish(run)
    return res


def _pick(rnd: H.Rng, r: int, suite: int, siege: range) -> str:
    if r in siege:
        return ("hostile", "flood", "wrong secret")[H._below(rnd, 3)]
    roll = H._below(rnd, 8)
    if roll < 3:
        return "genuine"
    if roll < 6:
        return "hostile"
    return "flood" if roll == 6 or suite != 3 else "wrong secret"


def bad_proof(rnd: H.Rng, proof: bytes, points: list[bytes]) -> tuple[str, bytes]:
    """A PROOF changed in one of its fields (mostly), or by a generic mutation
    kept to the PROOF type (a truncated, grown or random-bodied one). A
    suite-1 PROOF has no named fields here: one bit flipped after the sid
    (``c`` or ``t``, both covered by ``t``). Also used by the serial-endpoint
    fuzz (tools/rel_boards.py)."""
    if H._below(rnd, 4):
        got = H.mutate_fields(rnd, proof, points, [])
        if got is None and len(proof) > 3:  # suite 1
            b = bytearray(proof)
            b[3 + H._below(rnd, len(b) - 3)] ^= 1 << H._below(rnd, 8)
            got = "flip_field:c||t", bytes(b)
        if got is not None and got[1] != proof:
            return got
    body = bytes(rnd(H._below(rnd, 100)))
    return "random PROOF", proof[:3] + body


def _flood(run: Run, rnd: H.Rng, req: bytes, ids: list[bytes], points: list[bytes]) -> None:
    """2-8 REQs: fresh nonces of the legitimate id_s (each takes its half-open
    slot: counted in suite 3, 15.10 item 5), other offers, the record without a
    user secret, an unknown id_s. Any answer but an SRK frame or an ERROR
    frame is a wrong accept; a fresh REQ is answered (SRK, or BACKOFF)."""
    for _ in range(2 + H._below(rnd, 7)):
        run.t += 1
        got = H.mutate_fields(rnd, req, points, ids)
        assert got is not None
        how, frame = got
        if how.startswith("flip_field") or how in ("point", "swap_points", "resize", "suite"):
            how, frame = "fresh_n_s", frame[:9] + rnd(12) + frame[21:]
        out, evs = run.hostile(frame, "REQ " + how)
        for o in out:
            if H.is_error_frame(o):
                H.judge_error_frame(run.res, o, how)
            elif H.ftype(o) == wire.SRK:
                run.res.answers["SRK"] += 1
            else:
                run.expect(False, "REQ %s made F send %s" % (how, o.hex()))
        if how == "fresh_n_s":
            run.expect(len(out) == 1, "fresh REQ: %s %r" % ([o.hex() for o in out], evs))


def _use_session_at_f(run: Run, s: SecondStation, sid: int, key: bytes) -> None:
    """KEY to S; DATA both ways; S closes."""
    s.receive(key, run.t)
    up = b"up %d" % run.t
    s.send_data(up, run.t)
    (data,) = s.outputs()
    _, evs = run.step("receive", "DATA", frame=data)
    run.expect([e.payload for e in evs if e.name == DATA] == [up], "DATA at F: %r" % evs)
    out, _ = run.step("send", "send", sid=sid, payload=b"down")
    for o in out:
        s.receive(o, run.t)
    got = [e.payload for e in s.events() if e.name == DATA]
    run.expect(got == [b"down"], "DATA at S: %r" % got)
    if got == [b"down"]:
        run.res.good_exchanges += 1
    s.close(run.t)
    for o in s.outputs():
        run.step("receive", "CLOSE", frame=o)


@contextmanager
def _failures_counted(res: H.FuzzResult) -> Iterator[None]:
    """A hang or a crash of the target ends the run, counted in ``res``."""
    try:
        yield
    except H.TargetHang as exc:
        res.hangs += 1
        res.notes.append(str(exc))
    except RuntimeError as exc:
        res.crashes += 1
        res.notes.append(str(exc))


def _finish(run: Run) -> None:
    if isinstance(run.target, Lockstep):
        run.res.wrong_accepts += len(run.target.differences)
        run.res.notes += run.target.differences[:5]
    run.res.survived = not (run.res.crashes or run.res.hangs) and run.res.good_exchanges > 0
    run.target.close_target()


# ------------------------------------------------------------ S under test

def fuzz_second(factory: H.TargetFactory, suite: int, rounds: int, seed: bytes = b"hs S"
                ) -> H.FuzzResult:
    """``rounds`` handshake rounds of a second station offering ``suite`` (2 or
    3) against a legitimate host first station: a genuine handshake, mutated
    SRK frames while S waits for one, or mutated KEY frames while it waits for
    KEY; then the genuine frame, which must still work (suite 2, KEY) or, for
    suite 3 where S cannot tell a changed SRK frame, the PROOF it made must
    fail at F with WRONG_CODE and S must end with HANDSHAKE_FAILED."""
    p = H.suite_pairing(suite, 0)
    offer = suite
    target = factory("S", {"offer": [suite]}, [p.for_second()], seed + b" target")
    f = FirstStation(FirstConfig(suites=[suite]), [p], Drbg(seed + b" F"), 0)
    run = Run(target, H.FuzzResult(target.name + " S handshakes, suite %d" % suite))
    res = run.res
    rnd = Drbg(seed)
    points = H.hostile_points()
    secret = H.secret_for(suite)
    siege = range(6, 18) if suite == 3 else range(0)  # wrong secrets: S's back-off
    with _failures_counted(res):
        for r in range(rounds):
            run.t += ROUND_MS
            if run.t < run.backoff_until:  # 15.10 item 6: S refuses, draws and sends nothing
                res.inputs += 1
                res.by_mutation["connect while backing off"] += 1
                out, evs = run.step("connect", "connect", secret=secret)
                run.expect(not out and [(e.name, e.arg) for e in evs] == [
                    (HANDSHAKE_FAILED, Code.BACKOFF)], "connect during the back-off: %s %r" % (
                        [o.hex() for o in out], evs))
                res.events["HANDSHAKE_FAILED:BACKOFF"] += 1
                run.t = run.backoff_until + 1
            if suite == 3:
                run.t += f.backoff_left(p.id_s, run.t)  # the legitimate F's own back-off
            while f.prepare(run.t):
                f.run_jobs(run.t)
            kind = "wrong secret" if r in siege else ("genuine", "SRK", "SRK", "KEY")[
                H._below(rnd, 4)]
            typed = b"not the user's secret" if kind == "wrong secret" else secret
            out, evs = run.step("connect", "connect", secret=typed)
            run.backoff_until = max(run.backoff_until,
                                    H.judge_events(res, evs, "connect", run.t))
            if [H.ftype(o) for o in out] != [wire.REQ]:
                res.notes.append("round %d: connect gave %s %r" % (r, out, evs))
                continue
            f.receive(out[0], run.t)
            f.run_jobs(run.t)
            f.events()
            (srk,) = f.outputs()
            if kind == "wrong secret":  # F says WRONG_CODE; S ends the handshake
                out, evs = run.step("receive", "SRK", frame=srk)
                _changed_srk_fails_at_f(run, f, out)
                continue
            if kind == "SRK":
                how, bad = _bad_srk(rnd, srk, points)
                code = srk_code(bad, suite, offer)
                out, evs = run.hostile(bad, how)
                if code is None:  # suite 3: taken; the PROOF it makes must fail at F
                    run.expect([H.ftype(o) for o in out] == [wire.PROOF] and not evs,
                               "%s (%s): expected a PROOF, got %s %r" % (
                                   bad.hex(), how, [o.hex() for o in out], evs))
                    _changed_srk_fails_at_f(run, f, out)
                    continue
                run.expect(not out and _error_codes(evs) == [code],
                           "%s (%s): expected %s, got %s %r" % (bad.hex(), how, Code(code).name,
                                                                [o.hex() for o in out], evs))
                # S is in WAIT_SRK again: the genuine frame follows
            out, evs = run.step("receive", "SRK", frame=srk)
            H.judge_events(res, evs, "genuine SRK", run.t)
            if [H.ftype(o) for o in out] != [wire.PROOF]:
                run.expect(False, "genuine SRK after a changed one: %s %r" % (out, evs))
                continue
            proof = out[0]
            f.receive(proof, run.t)
            f.run_jobs(run.t)
            f.events()
            (key,) = f.outputs()
            if kind == "KEY":
                for _ in range(1 + H._below(rnd, 3)):
                    how, bad = H.mutate(rnd, key, [srk, key])
                    if bad == key:
                        continue
                    out, evs = run.hostile(bad, "KEY " + how)
                    run.expect(not out and len(_error_codes(evs)) == 1,
                               "KEY %s: %s %r" % (how, [o.hex() for o in out], evs))
            out, evs = run.step("receive", "KEY", frame=key)
            run.expect([e.name for e in evs] == [ESTABLISHED],
                       "genuine KEY after %s: %r" % (kind, evs))
            if evs and evs[0].name == ESTABLISHED:
                _use_session_at_s(run, f, evs[0].sid)
    _finish(run)
    return res


def _bad_srk(rnd: H.Rng, srk: bytes, points: list[bytes]) -> tuple[str, bytes]:
    for _ in range(8):
        got = H.mutate_fields(rnd, srk, points, [])
        assert got is not None
        if got[1] != srk:
            return got
    return "flip_field:n_f", srk[:4] + bytes((srk[4] ^ 1,)) + srk[5:]


def _changed_srk_fails_at_f(run: Run, f: FirstStation, out: list[bytes]) -> None:
    """The PROOF S made from a changed suite-3 SRK frame: F rejects it (its
    sid changed: UNKNOWN_SESSION, else WRONG_CODE: CPace's sid, TH2, K or
    DH differ) and S, told WRONG_CODE for its sid, ends the handshake. Also
    the PROOF of a user who typed a wrong secret."""
    if [H.ftype(o) for o in out] != [wire.PROOF]:
        run.expect(False, "S sent %s for an SRK frame" % [o.hex() for o in out])
        return
    proof = out[0]
    f.receive(proof, run.t)
    f.run_jobs(run.t)
    f.events()
    answer = f.outputs()
    run.expect(len(answer) == 1 and H.is_error_frame(answer[0])
               and answer[0][3] in (Code.WRONG_CODE, Code.UNKNOWN_SESSION),
               "F accepted a PROOF made from a changed SRK frame: %s" % [a.hex() for a in answer])
    if not answer or not H.is_error_frame(answer[0]):
        return
    out, evs = run.hostile(answer[0], "F's answer")
    names = [(e.name, e.arg) for e in evs]
    if answer[0][3] == Code.WRONG_CODE:
        run.expect(names[:2] == [("PEER_ERROR", Code.WRONG_CODE),
                                 (HANDSHAKE_FAILED, Code.WRONG_CODE)] and not out,
                   "S told WRONG_CODE: %r %s" % (evs, out))


def _use_session_at_s(run: Run, f: FirstStation, sid: int) -> None:
    out, _ = run.step("send", "send", payload=b"up")
    for o in out:
        f.receive(o, run.t)
    got = [e.payload for e in f.events() if e.name == DATA]
    f.send_data(sid, b"down", run.t)
    _, evs = run.step("receive", "DATA", frame=f.outputs()[0])
    ok = got == [b"up"] and [e.payload for e in evs if e.name == DATA] == [b"down"]
    run.expect(ok, "DATA after the handshake: %r %r" % (got, evs))
    run.res.good_exchanges += ok
    out, _ = run.step("close", "close")
    for o in out:
        f.receive(o, run.t)
    f.events()
    f.outputs()
