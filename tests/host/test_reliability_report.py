"""`make reliability` at a small scale: tools/reliability.py runs every part
(virtual boards under faults, hostile peer, fuzzing, soak, flood, erasure)
and writes report.md and results.json; no wrong accept, crash or hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reliability

pytestmark = pytest.mark.timeout(280)


def test_small_reliability_run(tmp_path: Path, micropython_bin: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROPYTHON", micropython_bin)
    rc = reliability.main(["--scale", "small", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "results.json").read_text())
    report = (tmp_path / "report.md").read_text()
    assert rc == 0 and res["ok"], report
    assert res["wrong_accepts_total"] == sum(
        h["wrong_accepts"] for h in res["hostile"]
        if h["attack"].startswith("REQ offer rewritten"))  # the known downgrade only
    main = res["boards"][0]
    assert main["scenario"].startswith("1% bytes")
    t = main["totals"]
    assert t["handshakes"] >= 8 and t["unresolved"] == 0 and t["corrupt_accepted"] == 0
    assert t["established"] + t["failed_clean"] == t["handshakes"]
    for k in ("suite1", "suite2"):
        assert res["soak"][k]["ok"] and res["soak"][k]["flat"], res["soak"][k]
        assert res["soak"][k]["heap_min_kib"] > 0
    assert all(r["ok"] for r in res["flood_mp"].values())
    assert res["erasure"]["ok"]
    assert res["fuzz"]["serial"]["ok"], res["fuzz"]["serial"]
    for needle in ("## 1. Faults on the link", "## 2. Hostile peer", "## 3. Fuzzing",
                   "## 4. Memory on the device", "wrong accepts"):
        assert needle in report
