"""The emulated Cortex-M3 section of `make bench` (tools/bench_emu.py), with the
quick profile's small counts: two boots under QEMU -icount give the same
instruction count for every figure, every figure of the issue is there, and
each has an estimated RP2040 time; the peak heap of a first station serving 8
sessions is found in the image's own heap.

Skipped, saying why, without the Debian packages or MicroPython's sources.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import bench_emu
import bench_report
from bench import state_floor
from bench_run import Runner, find_tool

pytestmark = pytest.mark.timeout(400)


def test_emulated_cortex_m3_section(emu_image: Path, tmp_path: Path) -> None:
    runner = Runner(find_tool("micropython", "MICROPYTHON"), tmp_path)
    raw = bench_emu.run(tmp_path / "emu", runner, "quick", lambda line: None)
    assert raw["identical"], (raw["run1"], raw["run2"])
    figs = {f["name"]: f for f in bench_emu.figures(raw, state_floor)}
    want = [f"emu.handshake.s{s}.{r}" for s in (1, 2) for r in ("first", "second")]
    want += [f"emu.data.{n}B.{op}" for n in (16, 64, 256, 1024)
             for op in ("seal", "open", "floor_cbc", "floor_ecb")]
    want += ["emu.x25519", "emu.x25519_base", "emu.heap_peak.s1.r8_s8_k4",
             "emu.heap_peak.s2.r8_s8_k4"]
    native = raw["run1"]["x25519"]["native"]
    if native:  # the viper X25519 beside its floor, the native module
        want.append("emu.x25519_viper")
        assert figs["emu.x25519_viper"]["baseline"] == figs["emu.x25519"]["value"]
        assert figs["emu.x25519_viper"]["value"] > figs["emu.x25519"]["value"]
    assert sorted(figs) == sorted(want)
    # handshakes against native floors of the same boot: the role's hashlib and
    # cryptolib calls replayed alone (+ its X25519 runs on the native module)
    for s, nx in (("s1", (0, 0)), ("s2", (1, 2))):
        h = raw["run1"]["handshake"][s]
        assert (h["first_x25519"], h["second_x25519"]) == nx, (s, h)
        for role in ("first", "second"):
            f = figs[f"emu.handshake.{s}.{role}"]
            assert h[role + "_calls"].get("sha", 0) > 0, h
            assert 0 < h[role + "_floor"] <= f["baseline"] < f["value"], (s, role, f)
    for f in figs.values():
        assert f["value"] > 0 and math.isfinite(f["value"]), f
        if f["unit"] == "instructions":
            assert f["run1"] == f["run2"], f
            est = bench_emu.rp2040_ms(f["value"])
            assert est["low"] < est["mid"] < est["high"], est
    # what is measured makes sense: an X25519 is most of a suite-2 handshake (one or
    # two of them per role) and more than a whole suite-1 handshake, which has none;
    # sealing costs more than the raw AES work under it and grows with the payload
    x25519 = figs["emu.x25519"]["value"]
    for role in ("first", "second"):
        s2 = figs[f"emu.handshake.s2.{role}"]["value"]
        assert 0.4 * s2 < x25519 < s2, (role, x25519, s2)
        assert figs[f"emu.handshake.s1.{role}"]["value"] < x25519
    for n in (16, 64, 256, 1024):
        seal = figs[f"emu.data.{n}B.seal"]["value"]
        assert seal > figs[f"emu.data.{n}B.floor_cbc"]["value"] + \
            figs[f"emu.data.{n}B.floor_ecb"]["value"]
    assert figs["emu.data.1024B.seal"]["value"] > figs["emu.data.16B.seal"]["value"]
    heap = raw["heap"]
    assert 100_000 < heap["free_at_boot"] < 150_000, heap  # the image's own heap
    for s in ("s1", "s2"):
        assert 0 < heap[s]["station"] < heap["free_at_boot"], heap
    doc = {"raw": {"emu": raw}, "records": [], "skipped": []}
    text = "\n".join(bench_report.emu_section(doc))
    assert "**identical**" in text and "est. RP2040" in text and "125 MHz" in text
