# CPace and SHA-512 vectors and costs on a board (or an emulated one).
#
# MicroPython code. From the repository root, with the board on PORT:
#     mpremote connect PORT mount . run tools/cpace_board_check.py
# (the unix VM works too: MICROPYPATH=firmware micropython tools/cpace_board_check.py).
# Checks tests/vectors/sha512.json (one-shot and in 77-byte pieces) and the
# draft's CPace run, RFC 9380 maps and an abort from tests/vectors/cpace.json,
# then prints ticks_us per operation: microseconds on a board, thousands of
# instructions under QEMU with -icount shift=0. The files are read whole
# before json.loads: json.load on a mounted file reads a byte per round trip.

import json
import sys
import time

sys.path.insert(0, "firmware")

from ephkey import cpace, elligator2, sha512  # noqa: E402
from ephkey.x25519 import x25519  # noqa: E402

h = bytes.fromhex


def load(name):
    with open("tests/vectors/" + name) as f:
        return json.loads(f.read())


def ticks(fn):
    t0 = time.ticks_us()
    fn()
    return time.ticks_diff(time.ticks_us(), t0)


def main():
    print("platform:", sys.implementation, "viper SHA-512:", sha512.VIPER)
    s = load("sha512.json")
    n = 0
    for c in s["nist"]:
        if c["repeat"] == 1:
            assert sha512.SHA512(h(c["msg"])).hexdigest() == c["digest"], c["name"]
            n += 1
    for c in s["random"]:
        m = h(c["msg"])
        assert sha512.SHA512(m).hexdigest() == c["digest"], len(m)
        p = sha512.SHA512()
        for i in range(0, len(m), 77):
            p.update(m[i:i + 77])
        assert p.hexdigest() == c["digest"], len(m)
        n += 1
    print("sha512: %d vectors ok" % n)
    s = None

    v = load("cpace.json")
    out = bytearray(32)
    for c in v["elligator2_rfc9380"]:
        elligator2.map_to_curve_into(out, h(c["u"]))
        assert out.hex() == c["x"], c
    print("elligator2: %d RFC 9380 vectors ok" % len(v["elligator2_rfc9380"]))
    x = v["x25519_sha512"]
    prs, ci, sid = h(x["PRS"]), h(x["CI"]), h(x["sid"])
    for mode, key in ((cpace.IR, "ISK_IR"), (cpace.OC, "ISK_OC")):
        a = cpace.CPace(True, mode)
        b = cpace.CPace(False, mode)
        ya = bytes(a.start(prs, ci, sid, h(x["ADa"]), lambda n: h(x["ya"])))
        yb = bytes(b.start(prs, ci, sid, h(x["ADb"]), lambda n: h(x["yb"])))
        ia = bytearray(64)
        ib = bytearray(64)
        a.finish(ia, yb, h(x["ADb"]))
        b.finish(ib, ya, h(x["ADa"]))
        assert ya.hex() == x["Ya"] and yb.hex() == x["Yb"], key
        assert ia.hex() == x[key] and ib.hex() == x[key], key
    print("cpace: draft run ok in both transcript modes")
    p = cpace.CPace(True)
    p.start(prs, ci, sid, b"", lambda n: h(x["ya"]))
    try:
        p.finish(bytearray(64), h(v["scalar_mult_vfy"]["cases"][3]["u"]), b"")
        raise AssertionError("low-order share accepted")
    except cpace.CPaceAbort:
        print("cpace: low-order share aborts")

    blocks = bytes(128 * 8)
    d = sha512.SHA512()
    r = h(x["generator_hash"])
    isk = bytearray(64)
    costs = (
        ("SHA-512 block", ticks(lambda: d.update(blocks)) // 8),
        ("elligator2 map", ticks(lambda: elligator2.map_to_curve_into(out, r))),
        ("generator", ticks(lambda: cpace.calculate_generator_into(out, prs, ci, sid))),
        ("x25519", ticks(lambda: x25519(h(x["ya"]), h(x["Yb"])))),
        ("start", ticks(lambda: p.start(prs, ci, sid, b"A", lambda n: h(x["ya"])))),
        ("finish", ticks(lambda: p.finish(isk, h(x["Yb"]), b"B"))),
    )
    for name, t in costs:
        print("cost %-15s %d ticks_us" % (name, t))
    print("ALL OK")


main()
