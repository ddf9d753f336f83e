"""Session and negative vectors (tests/vectors/README.md): run and record.

* :class:`Harness` builds the stations a vector describes (F plus ``S`` or
  ``S0``, ``S1``, ...) and applies one step, returning what the station emitted.
* :func:`run_session` replays a session vector and lists the mismatches;
  :func:`run_negative` does the same for one case of ``negative.json``.
* :class:`Recorder` writes a session vector by driving the host roles
  (used by ``tools/make_vectors.py``).

A suite-3 vector (15.10) has ``"user": hex`` instead of ``"ps"`` in its
pairing: F's record holds the secret, S gets the record without it, and each
``connect`` step carries the secret the user gives (``"secret": hex``).

A vector with several second stations has ``"pairings": [...]`` and
``"seconds": [{<second config>, "rng_seed": hex}, ...]`` instead of
``pairing``, ``second`` and ``rng_seed_s``; ``seconds[i]`` is station ``Si``
and uses ``pairings[i]``; F is paired with all of them.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import keyschedule as ks
from .config import FirstConfig, Pairing, SecondConfig
from .drbg import Drbg
from .errors import Code
from .events import ERROR, Event
from .first import FirstStation
from .second import SecondStation
from .station import Station

Vector = dict[str, Any]
Step = dict[str, Any]


class _LoggingRng:
    """Passes draws through and keeps them, to label SRKs and IDRKs afterwards."""

    def __init__(self, rng: Callable[[int], bytes]):
        self._rng = rng
        self.log: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self._rng(n)
        self.log.append(out)
        return out


def second_specs(vec: Vector) -> list[tuple[str, SecondConfig, Pairing, bytes]]:
    """(station name, config, pairing, seed) of each second station."""
    if "seconds" in vec:
        out = []
        for i, (sv, pv) in enumerate(zip(vec["seconds"], vec["pairings"], strict=True)):
            cfg = SecondConfig.from_json({k: v for k, v in sv.items() if k != "rng_seed"})
            out.append(("S%d" % i, cfg, Pairing.from_json(pv), bytes.fromhex(sv["rng_seed"])))
        return out
    return [("S", SecondConfig.from_json(vec["second"]), Pairing.from_json(vec["pairing"]),
             bytes.fromhex(vec["rng_seed_s"]))]


class Harness:
    def __init__(self, vec: Vector):
        t0 = int(vec["t0"])
        specs = second_specs(vec)
        self.f_rng = _LoggingRng(Drbg(bytes.fromhex(vec["rng_seed_f"])))
        self.first = FirstStation(FirstConfig.from_json(vec["first"]),
                                  [p for _, _, p, _ in specs], self.f_rng, t0)
        self.stations: dict[str, Station] = {"F": self.first}
        self.seconds: dict[str, SecondStation] = {}
        self.s_rngs: dict[str, _LoggingRng] = {}
        for name, cfg, pairing, seed in specs:
            self.s_rngs[name] = _LoggingRng(Drbg(seed))
            s = SecondStation(cfg, pairing.for_second(), self.s_rngs[name], t0)
            self.stations[name] = self.seconds[name] = s

    def apply(self, step: Step) -> tuple[list[bytes], list[Event]]:
        """One step. ``work`` runs ``work(t)`` until ``busy()`` is False; with
        ``"drain": false`` the output queue stays as it is (``out`` is [])."""
        name, op, t = step["station"], step["op"], int(step["t"])
        st = self.stations[name]
        if op == "receive":
            st.receive(bytes.fromhex(step["in"]), t)
        elif op == "poll":
            st.poll(t)
        elif op == "work":
            st.run_jobs(t)
        elif isinstance(st, FirstStation):
            if op == "send":
                st.send_data(int(step["sid"]), bytes.fromhex(step["payload"]), t)
            elif op == "close":
                st.close(int(step["sid"]), t)
            elif op == "prepare":
                st.prepare(t)
            else:
                raise ValueError("op %r is not for F" % op)
        else:
            assert isinstance(st, SecondStation)
            if op == "connect":
                secret = step.get("secret")
                st.connect(t, None if secret is None else bytes.fromhex(secret))
            elif op == "send":
                st.send_data(bytes.fromhex(step["payload"]), t)
            elif op == "close":
                st.close(t)
            else:
                raise ValueError("unknown op %r" % op)
        outs = st.outputs() if step.get("drain", True) else []
        return outs, st.events()

    def feed(self, station: str, frame: bytes, t: int) -> tuple[list[bytes], list[Event]]:
        st = self.stations[station]
        st.receive(frame, t)
        return st.outputs(), st.events()


def _diff_step(i: int, step: Step, outs: list[bytes], events: list[Event]) -> str | None:
    want_out = [bytes.fromhex(h) for h in step["out"]]
    want_ev = [Event.from_json(e) for e in step["events"]]
    if outs != want_out:
        return "step %d (%s %s): out %s, expected %s" % (
            i, step["station"], step["op"], [o.hex() for o in outs], step["out"])
    if events != want_ev:
        return "step %d (%s %s): events %s, expected %s" % (
            i, step["station"], step["op"], [e.to_json() for e in events], step["events"])
    return None


def run_steps(h: Harness, steps: list[Step], start: int = 0) -> list[str]:
    """Apply ``steps`` and stop at the first mismatch."""
    for i, step in enumerate(steps, start):
        outs, events = h.apply(step)
        problem = _diff_step(i, step, outs, events)
        if problem:
            return [problem]
    return []


def run_session(vec: Vector) -> list[str]:
    return run_steps(Harness(vec), vec["steps"])


def run_negative(case: dict[str, Any], bases: dict[str, Vector]) -> list[str]:
    """Replay ``0..after_step``, inject ``in``, check it, then the rest."""
    base = bases[case["base"]]
    after = int(case["after_step"])
    h = Harness(base)
    problems = run_steps(h, base["steps"][:after + 1])
    if problems:
        return ["replaying base: " + problems[0]]
    t = int(base["steps"][after]["t"])
    outs, events = h.feed(case["station"], bytes.fromhex(case["in"]), t)
    code = Code[case["error"]]
    if len(events) != 1 or events[0].name != ERROR or events[0].arg != code:
        return ["%s: events %s, expected one ERROR(%s)" % (
            case["name"], [e.to_json() for e in events], case["error"])]
    want = [bytes.fromhex(x) for x in case["out"]]
    if outs != want:
        return ["%s: out %s, expected %s" % (case["name"], [o.hex() for o in outs], case["out"])]
    problems = run_steps(h, base["steps"][after + 1:], after + 1)
    return ["%s: after the rejected frame, %s" % (case["name"], p) for p in problems]


def load(path: str | Path) -> Vector:
    with open(path, encoding="utf-8") as fh:
        out: Vector = json.load(fh)
        return out


def dumps(obj: Any) -> str:
    """The one JSON layout of the vector files (stable, diff-friendly)."""
    return json.dumps(obj, indent=1, ensure_ascii=True) + "\n"


def transcript(vec: Vector, station: str, upto: int | None = None) -> list[tuple[int, bytes]]:
    """What the receivers accepted of second station ``station``'s session(s).

    In step order: frames ``station`` accepted (F2S) and frames it emitted that
    F accepted (S2F); a frame whose step reported ERROR is left out (a suite-3
    SRK frame also when S's next step is the ``work`` that rejects it). ``upto``
    is the last step index included.
    """
    out: list[tuple[int, bytes]] = []
    mine: set[str] = set()
    steps = vec["steps"]
    for i, step in enumerate(steps):
        if upto is not None and i > upto:
            break
        rejected = any(e["event"] == ERROR for e in step["events"])
        if step["station"] == station and step["op"] == "receive" and \
                step["in"][:2] == "22" and step["in"][6:8] == "03":
            # suite 3: S checks nothing before its job; the job's ERROR rejects the frame
            later = next((st for st in steps[i + 1:] if st["station"] == station), None)
            rejected = rejected or (later is not None and later["op"] == "work" and any(
                e["event"] == ERROR for e in later["events"]))
        if step["station"] == station:
            mine.update(step["out"])
            if step["op"] == "receive" and not rejected:
                out.append((ks.DIR_F2S, bytes.fromhex(step["in"])))
        elif step["station"] == "F" and step["op"] == "receive" and step["in"] in mine \
                and not rejected:
            out.append((ks.DIR_S2F, bytes.fromhex(step["in"])))
    return out


class Recorder:
    """Drives a :class:`Harness` and writes each call down as a vector step."""

    def __init__(self, header: Vector):
        self.vec: Vector = dict(header)
        self.vec["steps"] = []
        self.h = Harness(self.vec)
        self.labels: dict[str, int] = {}
        self.draws: list[tuple[int, str, bytes]] = []  # (step, station, one RNG call's bytes)
        self.pair_intervals: dict[bytes, int] = {}  # srk_priv -> its interval

    def _do(self, step: Step, drain: bool = True) -> list[bytes]:
        if not drain:
            step["drain"] = False
        before = len(self.h.f_rng.log)
        s_before = {name: len(rng.log) for name, rng in self.h.s_rngs.items()}
        outs, events = self.h.apply(step)
        step["out"] = [o.hex() for o in outs]
        step["events"] = [e.to_json() for e in events]
        self.vec["steps"].append(step)
        i = len(self.vec["steps"]) - 1
        for out in self.h.f_rng.log[before:]:
            self.draws.append((i, "F", out))
            k = self.h.first.interval_of_key_pair(out) if len(out) == 32 else None
            if k is not None:
                self.pair_intervals[out] = k
        for name, rng in self.h.s_rngs.items():
            for out in rng.log[s_before[name]:]:
                self.draws.append((i, name, out))
        return outs

    @property
    def f_draws(self) -> list[tuple[int, str, bytes]]:
        return [d for d in self.draws if d[1] == "F"]

    def mark(self, label: str) -> int:
        """Name the last step (for negative cases)."""
        self.labels[label] = len(self.vec["steps"]) - 1
        return self.labels[label]

    def connect(self, st: str, t: int, drain: bool = True,
                secret: bytes | None = None) -> list[bytes]:
        step: Step = {"station": st, "op": "connect", "t": t}
        if secret is not None:
            step["secret"] = secret.hex()
        return self._do(step, drain)

    def receive(self, st: str, frame: bytes, t: int, drain: bool = True) -> list[bytes]:
        return self._do({"station": st, "op": "receive", "t": t, "in": frame.hex()}, drain)

    def send(self, st: str, payload: bytes, t: int, sid: int | None = None,
             drain: bool = True) -> list[bytes]:
        step: Step = {"station": st, "op": "send", "t": t}
        if sid is not None:
            step["sid"] = sid
        step["payload"] = payload.hex()
        return self._do(step, drain)

    def close(self, st: str, t: int, sid: int | None = None, drain: bool = True) -> list[bytes]:
        step: Step = {"station": st, "op": "close", "t": t}
        if sid is not None:
            step["sid"] = sid
        return self._do(step, drain)

    def poll(self, st: str, t: int, drain: bool = True) -> list[bytes]:
        return self._do({"station": st, "op": "poll", "t": t}, drain)

    def prepare(self, t: int) -> list[bytes]:
        return self._do({"station": "F", "op": "prepare", "t": t})

    def work(self, st: str, t: int, drain: bool = True) -> list[bytes]:
        return self._do({"station": st, "op": "work", "t": t}, drain)

    def last_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.vec["steps"][-1]["events"]
        return out
