"""CPace across the two implementations: the host plays one party, the firmware
(under MicroPython, tests/firmware/cpace_peer.py) the other, on fresh random inputs.

Each run draws a mode (IR or OC), the firmware's role, a code (mostly six
digits, sometimes long enough for two-byte lengths and no zero padding), CI,
sid, both ADs and both scalars. Every fifth run the host holds a different
code: both sides must then finish with different keys. Every seventh run the
host sends one of the draft's low-order shares instead of its own: the
firmware must abort. Otherwise both ISKs and sid_outputs must be equal.
The Elligator 2 maps are also compared on edge inputs and random ones.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from ephkey_host import cpace
from ephkey_host.cpace import CPace, CPaceAbort

REPO_ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO_ROOT / "tests" / "vectors" / "cpace.json").read_text())
RUNS = 60
P = 2**255 - 19


def rand_bytes(rnd: random.Random, lo: int, hi: int) -> bytes:
    return os.urandom(rnd.randint(lo, hi))


def draw_runs(rnd: random.Random) -> list[dict]:
    aborting = [c["u"] for c in VECTORS["scalar_mult_vfy"]["cases"] if c["abort"]]
    runs = []
    for i in range(RUNS):
        if i % 4 == 3:
            prs = rand_bytes(rnd, 0, 200)
        else:
            prs = b"%06d" % rnd.randrange(10**6)
        wrong = i % 5 == 4
        prs_host = (prs + b"x") if wrong else prs
        runs.append({
            "mode": rnd.choice((cpace.IR, cpace.OC)),
            "fw_initiator": rnd.random() < 0.5,
            "prs": prs, "prs_host": prs_host, "wrong": wrong,
            "ci": rand_bytes(rnd, 0, 200), "sid": rand_bytes(rnd, 0, 40),
            "ad_fw": rand_bytes(rnd, 0, 20), "ad_host": rand_bytes(rnd, 0, 20),
            "y_fw": os.urandom(32), "y_host": os.urandom(32),
            "bad_share": bytes.fromhex(aborting[i % len(aborting)]) if i % 7 == 6 else None,
        })
    return runs


def map_inputs() -> list[bytes]:
    edges = [0, 1, 2, P - 1, P, P + 1, P + 18, 2**255 - 1, 2**254, 486662, P - 486662]
    out = [k.to_bytes(32, "little") for k in edges]
    out += [(2**256 - 1).to_bytes(32, "little")]  # bit 255 set: masked off
    out += [os.urandom(32) for _ in range(60)]
    return out


def test_cpace_host_and_firmware_agree_on_random_runs(micropython_bin: str) -> None:
    rnd = random.Random(int.from_bytes(os.urandom(8), "little"))
    runs = draw_runs(rnd)
    lines = []
    hosts = []
    for r in runs:
        host = CPace(not r["fw_initiator"], r["mode"])
        y_host = host.start(r["prs_host"], r["ci"], r["sid"], r["ad_host"],
                            lambda n, r=r: r["y_host"])
        hosts.append(host)
        sent = r["bad_share"] if r["bad_share"] is not None else y_host
        lines.append(json.dumps({
            "op": "run", "mode": r["mode"], "initiator": r["fw_initiator"],
            "prs": r["prs"].hex(), "ci": r["ci"].hex(), "sid": r["sid"].hex(),
            "ad": r["ad_fw"].hex(), "scalar": r["y_fw"].hex(),
            "peer_share": sent.hex(), "peer_ad": r["ad_host"].hex(),
        }))
    maps = map_inputs()
    lines += [json.dumps({"op": "map", "r": m.hex()}) for m in maps]
    proc = subprocess.run(
        [micropython_bin, "tests/firmware/cpace_peer.py"],
        input="\n".join(lines) + "\n\n", capture_output=True, text=True, cwd=REPO_ROOT,
        env=dict(os.environ, MICROPYPATH="firmware:tests/firmware"), timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answers = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(answers) == len(runs) + len(maps), proc.stdout + proc.stderr

    counts = {"agreed": 0, "wrong_code": 0, "aborted": 0}
    for i, (r, host, ans) in enumerate(zip(runs, hosts, answers, strict=False)):
        ctx = f"run {i}: {r}"
        if r["bad_share"] is not None:
            assert ans.get("abort") == "low-order share", ctx
            counts["aborted"] += 1
            continue
        assert "abort" not in ans, ctx
        isk_host = host.finish(bytes.fromhex(ans["share"]), r["ad_fw"])
        if r["wrong"]:
            assert bytes.fromhex(ans["isk"]) != isk_host, ctx
            counts["wrong_code"] += 1
        else:
            assert ans["isk"] == isk_host.hex(), ctx
            assert ans["sid_output"] == host.sid_output().hex(), ctx
            counts["agreed"] += 1
    assert counts["agreed"] >= 30 and counts["wrong_code"] >= 8 and counts["aborted"] >= 6, counts

    for m, ans in zip(maps, answers[len(runs):], strict=True):
        want = cpace.elligator2(cpace.decode_u_coordinate(m)).hex()
        assert ans["x"] == want, m.hex()


def test_host_aborts_on_a_low_order_share_from_any_sender() -> None:
    # The host side of the same rule (the firmware's is tested above and in
    # tests/firmware/test_cpace.py): every aborting share of the draft ends the run.
    for c in VECTORS["scalar_mult_vfy"]["cases"]:
        if not c["abort"]:
            continue
        host = CPace(True)
        host.start(b"123456", b"ci", b"sid", b"", os.urandom)
        try:
            host.finish(bytes.fromhex(c["u"]), b"")
        except CPaceAbort:
            continue
        raise AssertionError(c["name"])
