"""ephkey.pairing inside MicroPython against tests/vectors/pairing.json (spec 15.9).

Every case's steps on two firmware pairing machines (one section-12 RNG
stream and one back-off state per station, a new machine at each ``arm``):
each step's frames and events, then who paired with whom and with which
PS, and the failure counts. The intermediates are recomputed with the
firmware's own CPace and HKDF, and the shown-code draw is replayed.
"""

import hashlib
import json

from drbg import Drbg
from ephkey import hkdf, pairing
from ephkey.cpace import IR, calculate_generator_into, isk_into, leb128, scalar_mult_vfy_into

with open("tests/vectors/pairing.json") as _f:
    V = json.load(_f)

h = bytes.fromhex


def _hex(b):
    return "".join("%02x" % x for x in b)


class Driver:
    def __init__(self, case):
        self.cfg = {"s": case["s"], "f": case["f"]}
        self.rng = {"s": Drbg(h(case["s"]["seed"])), "f": Drbg(h(case["f"]["seed"]))}
        self.backoff = {"s": pairing.Backoff(), "f": pairing.Backoff()}
        self.m = {"s": None, "f": None}

    def step(self, st):
        at = st["at"]
        if st["op"] == "arm":
            c = self.cfg[at]
            self.m[at] = pairing.Pairing(at == "s", h(c["id"]), st["code"], self.rng[at],
                                         st["t"], c["window_ms"], c["retry_ms"],
                                         self.backoff[at])
        elif st["op"] == "receive":
            f = h(st["frame"])
            self.m[at].receive(f, len(f), st["t"])
        else:
            self.m[at].poll(st["t"])
        m = self.m[at]
        out = []
        n = m.next_output()
        while n:
            out.append(_hex(m.out[:n]))
            n = m.next_output()
        evs = []
        code = m.next_event()
        while code:
            evs.append([pairing.EVENT_NAMES[code], m.ev_sid, m.ev_arg])
            code = m.next_event()
        return out, evs

    def paired(self):
        out = {}
        for at in ("s", "f"):
            m = self.m[at]
            out[at] = ({"peer": _hex(m.peer_id), "ps": _hex(m.ps)}
                       if m is not None and m.paired else None)
        return out


def test_every_case_step_by_step():
    assert len(V["cases"]) >= 9
    for case in V["cases"]:
        d = Driver(case)
        for i, st in enumerate(case["steps"]):
            out, evs = d.step(st)
            where = "%s step %d (%s %s t=%d)" % (case["name"], i, st["at"], st["op"], st["t"])
            assert out == st["out"], "%s: frames %s, want %s" % (where, out, st["out"])
            assert evs == st["events"], "%s: events %s, want %s" % (where, evs, st["events"])
        assert d.paired() == case["paired"], (case["name"], d.paired(), case["paired"])
        fails = {"s": d.backoff["s"].fails, "f": d.backoff["f"].fails}
        assert fails == case["fails"], (case["name"], fails, case["fails"])


def _lv(parts):
    out = bytearray()
    for p in parts:
        out.extend(leb128(len(p)))
        out.extend(p)
    return bytes(out)


def test_intermediates_from_the_scalars():
    seen = 0
    for case in V["cases"]:
        x = case.get("intermediates")
        if not x:
            continue
        seen += 1
        hello, reply, share, confirm = h(x["hello"]), h(x["reply"]), h(x["share"]), h(x["confirm"])
        id_s, n_s, id_f, n_f = hello[1:9], hello[9:21], reply[3:11], reply[11:23]
        sid = n_s + n_f
        ci = _lv((b"ephkey v2 pair", id_s, id_f))
        g = bytearray(32)
        calculate_generator_into(g, x["code"].encode(), ci, sid)
        ya, yb, k = bytearray(32), bytearray(32), bytearray(32)
        assert scalar_mult_vfy_into(ya, h(x["y_s"]), g)
        assert scalar_mult_vfy_into(yb, h(x["y_f"]), g)
        assert _hex(ya) == x["Y_s"] and _hex(yb) == x["Y_f"]
        assert scalar_mult_vfy_into(k, h(x["y_s"]), yb)
        isk = bytearray(64)
        isk_into(isk, k, sid, IR, ya, hello, yb, reply[0:23])
        assert _hex(isk) == x["isk"], case["name"]
        prk = hkdf.hkdf_extract(b"ephkey v2 pair", isk)
        assert _hex(prk) == x["prk_p"]
        kc_s = hkdf.hkdf_expand(prk, b"ephkey v2 pair kc s", 32)
        kc_f = hkdf.hkdf_expand(prk, b"ephkey v2 pair kc f", 32)
        assert (_hex(kc_s), _hex(kc_f)) == (x["kc_s"], x["kc_f"])
        th_s = hashlib.sha256(hello + reply + share[0:35]).digest()
        th_f = hashlib.sha256(hello + reply + share + confirm[0:3]).digest()
        assert (_hex(th_s), _hex(th_f)) == (x["th_s"], x["th_f"])
        assert _hex(hkdf.hmac_sha256(kc_s, th_s)[:16]) == x["tag_s"] == _hex(share[35:51])
        assert _hex(hkdf.hmac_sha256(kc_f, th_f)[:16]) == x["tag_f"] == _hex(confirm[3:19])
        ps = hkdf.hkdf_expand(prk, b"ephkey v2 pair ps" + id_f + id_s, 32)
        assert _hex(ps) == x["ps"]
    assert seen >= 5


def test_shown_code_draw():
    assert any(c["draws"] > 1 for c in V["codes"])  # the rejection step is covered
    for c in V["codes"]:
        rng = Drbg(h(c["seed"]))
        assert pairing.draw_code(rng) == c["code"]
        assert rng.drawn == 4 * c["draws"]


def test_code_and_settings_checks():
    for bad in ("12345", "1234567", "12345a", "12 345", b"\x00" * 6):
        try:
            pairing.check_code(bad)
        except ValueError:
            continue
        raise AssertionError("code %r accepted" % (bad,))
    assert pairing.check_code("042917") == b"042917"
    for kw in ({"window_ms": 9999}, {"window_ms": 600001}, {"retry_ms": 99}):
        try:
            pairing.Pairing(False, b"F" * 8, "042917", Drbg(b"x"), 0, **kw)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (kw,))


def test_backoff_delays():
    # 15.6: ten free failures, then 30 s doubling up to one hour
    want = [0] * 10 + [30000, 60000, 120000, 240000, 480000, 960000, 1920000, 3600000, 3600000]
    assert [pairing.backoff_ms(n) for n in range(len(want))] == want
    assert pairing.backoff_ms(1000) == 3600000
