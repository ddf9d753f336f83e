"""Write tests/vectors/pairing.json (docs/protocol.md 15.9) with the host implementation.

    python tools/make_pairing_vectors.py [--check]

Each case is a script of steps on the two stations of a pairing (``s``, the
initiator and future second station; ``f``, the responder); the host's
``ephkey_host.pair_vectors.Driver`` runs it with the RNG of section 12 and
records every frame and event. The first successful attempt's intermediates
are then recomputed from its scalars and frames with the formulas of 15.4
(``pair_vectors.intermediates``) and must agree with the frames the machine
sent. ``--check`` compares with the file instead of writing it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))

from ephkey_host.drbg import Drbg  # noqa: E402
from ephkey_host.pair_device import CODE_LIMIT  # noqa: E402
from ephkey_host.pair_vectors import Driver, check, intermediates  # noqa: E402

VECTORS = ROOT / "tests" / "vectors" / "pairing.json"
ID_S = b"SECOND01"
ID_F = b"FIRST-01"
CODE = "042917"
LOW_ORDER = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


class LoggedRng:
    """The section-12 stream, remembering the 32-byte draws (CPace scalars)."""

    def __init__(self, rng: Callable[[int], bytes]) -> None:
        self.rng = rng
        self.scalars: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self.rng(n)
        if n == 32:
            self.scalars.append(out)
        return out


class Script:
    def __init__(self, name: str, description: str, window_s: int = 120_000,
                 window_f: int = 120_000) -> None:
        self.case: dict[str, Any] = {
            "name": name, "description": description,
            "s": {"id": ID_S.hex(), "seed": ("pair-s-" + name).encode().hex(),
                  "window_ms": window_s, "retry_ms": 1000},
            "f": {"id": ID_F.hex(), "seed": ("pair-f-" + name).encode().hex(),
                  "window_ms": window_f, "retry_ms": 1000},
            "steps": []}
        self.d = Driver(self.case)
        self.logged = {at: LoggedRng(self.d.rng[at]) for at in ("s", "f")}
        self.d.rng = dict(self.logged)  # type: ignore[arg-type]
        self.y_of_reply: dict[bytes, bytes] = {}
        self.found: dict[str, str] | None = None

    def _step(self, at: str, op: str, t: int, code: str | None = None,
              frame: bytes | None = None) -> list[bytes]:
        drawn = len(self.logged[at].scalars)
        m_before = self.d.m[at]
        out, evs = self.d.step(at, op, t, code, frame)
        st: dict[str, Any] = {"at": at, "op": op, "t": t}
        if code is not None:
            st["code"] = code
        if frame is not None:
            st["frame"] = frame.hex()
        st["out"] = [f.hex() for f in out]
        st["events"] = evs
        self.case["steps"].append(st)
        if at == "f" and len(self.logged["f"].scalars) > drawn:
            for f in out:
                if f[0] == 0x2A:
                    self.y_of_reply[f] = self.logged["f"].scalars[-1]
        m = self.d.m[at]
        if (at == "s" and self.found is None and m is m_before and m is not None
                and any(e[0] == "PAIRED" for e in evs) and frame is not None):
            self.found = intermediates(m.prs.decode(), self.logged["s"].scalars[-1],
                                       self.y_of_reply[m._reply], m._hello, m._reply,
                                       m._share, frame)
        return out

    def arm(self, at: str, t: int, code: str = CODE) -> list[bytes]:
        return self._step(at, "arm", t, code=code)

    def rx(self, at: str, t: int, frame: bytes) -> list[bytes]:
        return self._step(at, "receive", t, frame=frame)

    def poll(self, at: str, t: int) -> list[bytes]:
        return self._step(at, "poll", t)

    def done(self) -> dict[str, Any]:
        self.case["paired"] = self.d.paired()
        self.case["fails"] = self.d.fails()
        if self.found is not None:
            self.case["intermediates"] = self.found
        return self.case


def one(frames: list[bytes]) -> bytes:
    assert len(frames) == 1, frames
    return frames[0]


def case_typed() -> dict[str, Any]:
    c = Script("typed_code", "The same code typed on both stations: one attempt, both "
               "tags, PS; F lingers 5 s in DONE, then disarms.")
    c.arm("f", 0)
    hello = one(c.arm("s", 100))
    reply = one(c.rx("f", 110, hello))
    share = one(c.rx("s", 120, reply))
    confirm = one(c.rx("f", 130, share))
    c.rx("s", 140, confirm)
    c.poll("f", 5129)
    c.poll("f", 5130)
    c.rx("f", 5200, share)  # DONE is over: NOT_ARMED
    return c.done()


def case_lost() -> dict[str, Any]:
    c = Script("lost_frames", "S armed before F; lost PAIR_HELLO, PAIR_REPLY and "
               "PAIR_CONFIRM: S retransmits every retry_ms, F repeats PAIR_REPLY and, in "
               "DONE, PAIR_CONFIRM byte for byte; a repeated PAIR_REPLY at S is ignored.")
    c.arm("s", 0)                    # HELLO lost (F not armed yet)
    c.poll("s", 999)
    c.arm("f", 500)
    hello = one(c.poll("s", 1000))
    c.rx("f", 1010, hello)           # REPLY lost
    hello2 = one(c.poll("s", 2000))
    reply = one(c.rx("f", 2010, hello2))
    share = one(c.rx("s", 2020, reply))
    c.rx("s", 2030, reply)           # duplicate: nothing
    c.rx("f", 2040, share)           # CONFIRM lost
    share2 = one(c.poll("s", 3020))
    confirm = one(c.rx("f", 3030, share2))
    c.rx("s", 3040, confirm)
    c.poll("s", 4040)                # disarmed: nothing
    c.poll("f", 8040)
    return c.done()


def case_wrong_code() -> dict[str, Any]:
    c = Script("wrong_code", "A wrong code typed on S: F reports PAIR_FAILED(WRONG_CODE) "
               "and stays armed; its ERROR is lost, S repeats PAIR_SHARE, F answers with the "
               "same ERROR; S reports PEER_ERROR, PAIR_FAILED and DISARMED; armed again "
               "with the right code, S pairs.")
    c.arm("f", 0)
    hello = one(c.arm("s", 0, code="042918"))
    reply = one(c.rx("f", 10, hello))
    share = one(c.rx("s", 20, reply))
    c.rx("f", 30, share)             # ERROR(WRONG_CODE) lost
    share2 = one(c.poll("s", 1020))
    err = one(c.rx("f", 1030, share2))
    c.rx("s", 1040, err)
    hello = one(c.arm("s", 2000))
    reply = one(c.rx("f", 2010, hello))
    share = one(c.rx("s", 2020, reply))
    confirm = one(c.rx("f", 2030, share))
    c.rx("s", 2040, confirm)
    return c.done()


def case_backoff() -> dict[str, Any]:
    c = Script("backoff", "Ten wrong codes: after the tenth failed attempt both stations "
               "report BACKOFF(30000); F answers another PAIR_HELLO with ERROR(BACKOFF), S "
               "refuses to arm; after the delay the right code pairs and the counts reset.",
               window_s=600_000, window_f=600_000)
    c.arm("f", 0)
    t = 0
    for i in range(10):
        hello = one(c.arm("s", t, code="%06d" % (900000 + i)))
        reply = one(c.rx("f", t + 1, hello))
        share = one(c.rx("s", t + 2, reply))
        err = one(c.rx("f", t + 3, share))
        c.rx("s", t + 4, err)
        t += 100
    c.arm("s", t)                    # S backs off: no frame
    other = b"\x29" + b"OTHER-S1" + bytes(range(12))
    c.rx("f", t + 10, other)         # F backs off: ERROR(BACKOFF)
    t = 904 + 30_000                 # S's tenth failure was at 904
    hello = one(c.arm("s", t))
    reply = one(c.rx("f", t + 1, hello))
    share = one(c.rx("s", t + 2, reply))
    confirm = one(c.rx("f", t + 3, share))
    c.rx("s", t + 4, confirm)
    return c.done()


def case_window_f() -> dict[str, Any]:
    c = Script("window_f", "F's window (10 s) ends while S waits for PAIR_CONFIRM: the open "
               "attempt is dropped uncounted, DISARMED(TIMEOUT); S's PAIR_SHARE then gets "
               "ERROR(NOT_ARMED), which ends S's attempt.", window_f=10_000)
    c.arm("f", 0)
    hello = one(c.arm("s", 5000))
    reply = one(c.rx("f", 5010, hello))
    c.rx("s", 5020, reply)           # PAIR_SHARE lost
    c.poll("f", 9999)
    c.poll("f", 10000)
    share = one(c.poll("s", 6020))
    err = one(c.rx("f", 10010, share))
    c.rx("s", 10020, err)
    c.rx("f", 10030, hello)          # NOT_ARMED
    return c.done()


def case_window_s() -> dict[str, Any]:
    c = Script("window_s", "S's window (10 s) ends in WAIT_CONFIRM: its retransmissions "
               "are all lost; PAIR_FAILED(TIMEOUT) (counted) and DISARMED(TIMEOUT). A "
               "window that ends before any answer: DISARMED(TIMEOUT) only.",
               window_s=10_000)
    c.arm("f", 0)
    hello = one(c.arm("s", 0))
    reply = one(c.rx("f", 10, hello))
    c.rx("s", 20, reply)
    for t in range(1020, 10000, 1000):
        c.poll("s", t)               # PAIR_SHARE sent again, lost
    c.poll("s", 10000)
    c.arm("s", 20000)                # nobody answers this time
    c.poll("s", 29999)
    c.poll("s", 30000)
    c.poll("f", 120000)              # F's attempt in WAIT_SHARE: not counted
    return c.done()


def case_replaced() -> dict[str, Any]:
    c = Script("replaced", "S armed again before its attempt finished: F ends the first "
               "attempt (PAIR_FAILED(REPLACED), counted, ERROR frame for its run) and answers "
               "the new PAIR_HELLO; the old PAIR_HELLO is then REPLAY; the new attempt pairs.")
    c.arm("f", 0)
    hello1 = one(c.arm("s", 0))
    c.rx("f", 10, hello1)            # its PAIR_REPLY is lost; the user arms S again
    hello2 = one(c.arm("s", 3000))
    out = c.rx("f", 3010, hello2)
    assert len(out) == 2
    c.rx("f", 3020, hello1)          # REPLAY
    share = one(c.rx("s", 3030, out[1]))
    confirm = one(c.rx("f", 3040, share))
    c.rx("s", 3050, confirm)
    return c.done()


def case_checks() -> dict[str, Any]:
    c = Script("checks", "Every check of 15.5 item 2 and the state checks, in order, at "
               "both stations, then a run that still pairs.")
    c.arm("f", 0)
    hello = one(c.arm("s", 0))
    run = hello[9:11]
    for bad in (b"", b"\x19" + hello[1:], b"\x2d" + hello[1:], b"\x2a" + run + bytes(52),
                hello[:20], hello[:10], b"\x29" + ID_F + hello[9:],
                b"\x2b" + run + bytes(48), b"\x2f\x00\x01\x05"):
        c.rx("f", 1, bad)
    for bad in (hello, b"\x2a" + run + bytes(51), b"\x2a\x00\x00" + ID_F + bytes(44),
                b"\x2a" + run + ID_S + bytes(44), b"\x2c" + run + bytes(16),
                b"\x2f" + run + b"\x16"):
        c.rx("s", 2, bad)
    reply = one(c.rx("f", 3, hello))
    c.rx("s", 4, reply[:23] + LOW_ORDER)   # AUTH_FAILED, nothing sent
    share = one(c.rx("s", 5, reply))
    c.rx("s", 6, reply[:23] + bytes(32))   # another PAIR_REPLY in WAIT_CONFIRM
    c.rx("s", 7, b"\x2c\x00\x00" + bytes(16))  # CONFIRM of another run
    c.rx("s", 8, b"\x2f\x00\x00\x05")          # ERROR of another run: advisory
    c.rx("f", 9, b"\x2b\x00\x00" + share[3:])  # SHARE of another run
    confirm = one(c.rx("f", 10, share))
    c.rx("f", 11, hello)                       # DONE: NOT_ARMED
    c.rx("f", 12, share[:35] + bytes(16))      # DONE, another PAIR_SHARE: UNEXPECTED
    c.rx("s", 13, confirm)
    return c.done()


def case_low_order() -> dict[str, Any]:
    c = Script("low_order", "A PAIR_SHARE with a low-order Y_s: F aborts CPace, "
               "PAIR_FAILED(AUTH_FAILED), counted; the genuine PAIR_SHARE that follows "
               "is UNEXPECTED (its attempt ended); S's attempt ends on the ERROR for its run.")
    c.arm("f", 0)
    hello = one(c.arm("s", 0))
    reply = one(c.rx("f", 10, hello))
    share = one(c.rx("s", 20, reply))
    err = one(c.rx("f", 30, share[:3] + LOW_ORDER + share[35:]))
    c.rx("f", 40, share)
    c.rx("f", 50, share[:3] + LOW_ORDER + share[35:])  # the same ERROR again
    c.rx("s", 60, err)
    return c.done()


def codes() -> list[dict[str, Any]]:
    out = []
    for i in range(3):
        seed = ("code-%d" % i).encode()
        rng = Drbg(seed)
        from ephkey_host.pair_device import draw_code
        out.append({"seed": seed.hex(), "code": draw_code(rng), "draws": rng.drawn // 4})
    i = 0
    while True:  # a seed whose first draw is refused (about 1 in 4,440)
        seed = ("code-reject-%d" % i).encode()
        if int.from_bytes(Drbg(seed)(4), "big") >= CODE_LIMIT:
            from ephkey_host.pair_device import draw_code
            rng = Drbg(seed)
            out.append({"seed": seed.hex(), "code": draw_code(rng), "draws": rng.drawn // 4})
            return out
        i += 1


def build() -> dict[str, Any]:
    doc = {
        "description": "Device pairing (docs/protocol.md section 15): steps of both "
                       "stations with the RNG of section 12, and the shown-code draw (15.1). "
                       "Written by tools/make_pairing_vectors.py with the host code.",
        "codes": codes(),
        "cases": [case_typed(), case_lost(), case_wrong_code(), case_backoff(),
                  case_window_f(), case_window_s(), case_replaced(), case_checks(),
                  case_low_order()],
    }
    n, bad = check(doc)
    if bad:
        raise SystemExit("the recorded vectors do not replay:\n" + "\n".join(bad))
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        same = VECTORS.exists() and VECTORS.read_text() == text
        print("pairing.json: %s" % ("up to date" if same else "DIFFERS"))
        return 0 if same else 1
    VECTORS.write_text(text)
    print("wrote %s" % VECTORS.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
