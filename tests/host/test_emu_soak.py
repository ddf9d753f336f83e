"""Soak on the emulated board: 1,000 suite-1 handshakes and 10,000 DATA frames
in the image's own 140 KiB heap, with the heap flat.

The board runs tests/firmware/test_soak.py's soak (one first station, five
second stations taking turns, sessions ending every way the spec knows, the
clock moving on so that SRKs leave the ring) with the ``ephkey`` frozen in the
image (armv6m code), no heap-size override. ``gc.mem_free()`` after
``gc.collect()`` is read at 20 quiet points (no session open); once warmed up
it must not move by more than the soak's tolerance (256 bytes: a few 16-byte
GC blocks the conservative scan happens to keep), nor at the end.
Suite 1: a suite-2 handshake costs about 130 times as many instructions
(X25519); test_soak's own suite-2 soak runs on the board in test_emu_firmware.

Skipped, saying why, without the Debian packages or MicroPython's sources.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hostkit import REPO

import deploy
import emuboard

pytestmark = pytest.mark.timeout(400)

# 1 handshake in 13 is abandoned on purpose (F's WAIT_PROOF timer frees it):
# 1084 started make at least 1,000 established, with 10 or 11 DATA frames each
HANDSHAKES = 1084
FRAMES = 11000
TOLERANCE = 256

MAIN = """\
import gc, json, time
import emu
from test_soak import soak, _check

free = [0] * 20
at = [0]


def log(h, alloc):
    free[at[0]] = gc.mem_free()  # soak() has just run gc.collect()
    at[0] += 1


gc.collect()
free_start = gc.mem_free()
t0 = time.ticks_ms()
r = soak(%d, %d, suite=1, checkpoints=20, log=log)
r["ms"] = time.ticks_diff(time.ticks_ms(), t0)
gc.collect()
r["free_start"] = free_start
r["free_checkpoints"] = free[:at[0]]
r["free_end"] = gc.mem_free()
r["heap"] = gc.mem_free() + gc.mem_alloc()
print("SOAK " + json.dumps(r))
_check(r, %d)
print("SOAK-CHECK ok")
emu.exit(0)
"""


def test_soak_on_the_emulated_board(emu_image: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    tool = deploy.find_tool("mpy-cross", "MPY_CROSS")
    for name in ("test_soak", "drbg"):
        src = REPO / "tests" / "firmware" / f"{name}.py"
        subprocess.run([*tool, "-march=armv6m", "-o", str(tree / f"{name}.mpy"), str(src)],
                       check=True)
    (tree / "main.py").write_text(MAIN % (HANDSHAKES, FRAMES, TOLERANCE))
    r = emuboard.run(tree, timeout=350, elf=emu_image)
    assert r.status == 0 and "SOAK-CHECK ok" in r.output, r.output[-4000:]
    line = next(ln for ln in r.output.splitlines() if ln.startswith("SOAK "))
    s = json.loads(line[len("SOAK "):])
    print(f"\nsoak on the emulated board: {s['established']} handshakes established, "
          f"{s['data_frames']} DATA frames in {s['ms'] / 1000:.1f} s; heap {s['heap']} B, "
          f"free at checkpoints {s['free_checkpoints']}, at the end {s['free_end']}")
    assert s["handshakes"] == HANDSHAKES and s["established"] >= 1000, s
    assert s["data_frames"] >= 10000, s
    assert s["heap"] < 150_000, s  # the image's own heap (140 KiB), no override
    free = s["free_checkpoints"]
    assert len(free) >= 15, s
    warm = free[2:]
    assert max(warm) - min(warm) <= TOLERANCE, free
    # at the end the stations are gone too: nothing may be missing
    assert s["free_end"] >= min(warm) - TOLERANCE, (s["free_end"], free)
    shutil.rmtree(tree)
