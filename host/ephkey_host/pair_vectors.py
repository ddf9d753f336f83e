"""Pairing vectors (docs/protocol.md 15.9): run and check ``tests/vectors/pairing.json``.

:class:`Driver` executes a case's steps on two :class:`~.pair_device.PairingMachine`
objects (one RNG stream and one back-off state per station, a new machine at
every ``arm`` step); ``tools/make_pairing_vectors.py`` records with it and
:func:`check` replays with it. :func:`check_intermediates` recomputes a
case's intermediates from its scalars and frames with the formulas of 15.4
directly (``cpace``, ``crypto``), not through the machine.
"""

from __future__ import annotations

from typing import Any

from . import cpace, crypto
from .drbg import Drbg
from .pair_device import Backoff, PairingMachine, channel_id, derive, draw_code, tag

STATIONS = ("s", "f")


def _h(x: str) -> bytes:
    return bytes.fromhex(x)


class Driver:
    """Both stations of one case; every step drains outputs and events."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.cfg = {at: case[at] for at in STATIONS}
        self.rng = {at: Drbg(_h(self.cfg[at]["seed"])) for at in STATIONS}
        self.backoff = {at: Backoff() for at in STATIONS}
        self.m: dict[str, PairingMachine | None] = {"s": None, "f": None}

    def step(self, at: str, op: str, t: int, code: str | None = None,
             frame: bytes | None = None) -> tuple[list[bytes], list[list[Any]]]:
        if op == "arm":
            cfg = self.cfg[at]
            self.m[at] = PairingMachine(at == "s", _h(cfg["id"]), code or "", self.rng[at], t,
                                        cfg["window_ms"], cfg["retry_ms"], self.backoff[at])
        else:
            m = self.m[at]
            if m is None:
                raise ValueError("step %s %s before arm" % (at, op))
            if op == "receive":
                m.receive(frame or b"", t)
            elif op == "poll":
                m.poll(t)
            else:
                raise ValueError("unknown op %r" % op)
        m = self.m[at]
        assert m is not None
        return m.outputs(), [[e.name, e.sid, e.arg] for e in m.events()]

    def paired(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for at in STATIONS:
            m = self.m[at]
            if m is not None and m.ps is not None and m.peer_id is not None:
                out[at] = {"peer": m.peer_id.hex(), "ps": m.ps.hex()}
            else:
                out[at] = None
        return out

    def fails(self) -> dict[str, int]:
        return {at: self.backoff[at].fails for at in STATIONS}


def replay(case: dict[str, Any]) -> list[str]:
    """Mismatches of one case, as readable lines (empty: the case passes)."""
    name = case["name"]
    d = Driver(case)
    bad = []
    for i, st in enumerate(case["steps"]):
        frame = _h(st["frame"]) if "frame" in st else None
        out, evs = d.step(st["at"], st["op"], st["t"], st.get("code"), frame)
        got_out = [f.hex() for f in out]
        if got_out != st["out"]:
            bad.append("%s step %d (%s %s t=%d): frames %s, want %s"
                       % (name, i, st["at"], st["op"], st["t"], got_out, st["out"]))
        if evs != st["events"]:
            bad.append("%s step %d (%s %s t=%d): events %s, want %s"
                       % (name, i, st["at"], st["op"], st["t"], evs, st["events"]))
    if d.paired() != case["paired"]:
        bad.append("%s: paired %s, want %s" % (name, d.paired(), case["paired"]))
    if d.fails() != case["fails"]:
        bad.append("%s: fails %s, want %s" % (name, d.fails(), case["fails"]))
    return bad


def intermediates(code: str, y_s: bytes, y_f: bytes, hello: bytes, reply: bytes,
                  share: bytes, confirm: bytes) -> dict[str, str]:
    """Every value of 15.4 for one attempt, from the scalars and the frames."""
    id_s, n_s = hello[1:9], hello[9:21]
    id_f, n_f = reply[3:11], reply[11:23]
    sid = n_s + n_f
    g = cpace.calculate_generator(code.encode(), channel_id(id_s, id_f), sid)
    ya, yb = cpace.scalar_mult(y_s, g), cpace.scalar_mult(y_f, g)
    k = cpace.scalar_mult_vfy(y_s, yb)
    isk = cpace.isk(sid, k, cpace.IR, ya, hello, yb, reply[0:23])
    keys = derive(isk, id_f, id_s)
    th_s = crypto.sha256(hello + reply + share[0:35])
    th_f = crypto.sha256(hello + reply + share + confirm[0:3])
    return {"code": code, "n_s": n_s.hex(), "n_f": n_f.hex(),
            "run": "%d" % (int.from_bytes(n_s[:2], "big") or 1),
            "y_s": y_s.hex(), "y_f": y_f.hex(), "Y_s": ya.hex(), "Y_f": yb.hex(),
            "isk": isk.hex(), "prk_p": keys.prk_p.hex(), "kc_s": keys.kc_s.hex(),
            "kc_f": keys.kc_f.hex(), "th_s": th_s.hex(),
            "tag_s": crypto.hmac_sha256(keys.kc_s, th_s)[:16].hex(), "th_f": th_f.hex(),
            "tag_f": crypto.hmac_sha256(keys.kc_f, th_f)[:16].hex(), "ps": keys.ps.hex(),
            "hello": hello.hex(), "reply": reply.hex(), "share": share.hex(),
            "confirm": confirm.hex()}


def check_intermediates(case: dict[str, Any]) -> list[str]:
    x = case.get("intermediates")
    if not x:
        return []
    got = intermediates(x["code"], _h(x["y_s"]), _h(x["y_f"]), _h(x["hello"]), _h(x["reply"]),
                        _h(x["share"]), _h(x["confirm"]))
    bad = ["%s: intermediate %s is %s, want %s" % (case["name"], k, got[k], x[k])
           for k in sorted(got) if got[k] != x.get(k)]
    # the frames hold what the formulas give
    share, confirm = _h(x["share"]), _h(x["confirm"])
    if share[3:35].hex() != x["Y_s"] or _h(x["reply"])[23:55].hex() != x["Y_f"]:
        bad.append("%s: shares in the frames differ from Y_s, Y_f" % case["name"])
    if (share[35:51] != tag(_h(x["kc_s"]), _h(x["hello"]) + _h(x["reply"]) + share[0:35])
            or confirm[3:19].hex() != x["tag_f"] or share[35:51].hex() != x["tag_s"]):
        bad.append("%s: tags in the frames differ" % case["name"])
    for at in STATIONS:
        if case["paired"][at] is not None and case["paired"][at]["ps"] != x["ps"]:
            bad.append("%s: %s stored another PS" % (case["name"], at))
    return bad


def check_codes(codes: list[dict[str, Any]]) -> list[str]:
    bad = []
    for c in codes:
        rng = Drbg(_h(c["seed"]))
        code = draw_code(rng)
        if code != c["code"] or rng.drawn != 4 * c["draws"]:
            bad.append("code for seed %s: %s after %d draws, want %s after %d"
                       % (c["seed"], code, rng.drawn // 4, c["code"], c["draws"]))
    return bad


def check(doc: dict[str, Any]) -> tuple[int, list[str]]:
    """(number of cases, mismatches) for a whole pairing.json document."""
    bad = check_codes(doc["codes"])
    for case in doc["cases"]:
        bad += replay(case)
        bad += check_intermediates(case)
    return len(doc["codes"]) + len(doc["cases"]), bad
