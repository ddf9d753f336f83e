"""`python -m ephkey_host vectors` and the command line's help and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hostkit import REPO, cli

pytestmark = pytest.mark.timeout(120)

VECTORS = REPO / "tests" / "vectors"


def test_every_shared_vector_passes() -> None:
    proc = cli("vectors")
    assert proc.returncode == 0, proc.stdout
    files = sorted(p.name for p in VECTORS.glob("*.json"))
    for name in files:
        lines = proc.stdout.splitlines()
        assert any(ln.startswith("PASS") and f" {name} " in ln for ln in lines), name
    assert f"{len(files)} passed, 0 failed" in proc.stdout


def test_a_wrong_vector_fails(tmp_path: Path) -> None:
    for name in ("session_basic.json", "link.json"):
        shutil.copy(VECTORS / name, tmp_path / name)
    vec = json.loads((tmp_path / "session_basic.json").read_text())
    step = next(s for s in vec["steps"] if s["out"])
    out = bytearray(bytes.fromhex(step["out"][0]))
    out[-1] ^= 1
    step["out"][0] = out.hex()
    (tmp_path / "session_basic.json").write_text(json.dumps(vec))
    (tmp_path / "notes.json").write_text("{}")
    proc = cli("vectors", "--dir", str(tmp_path))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("FAIL") and "session_basic.json" in ln for ln in lines)
    assert any(ln.startswith("PASS") and "link.json" in ln for ln in lines)
    assert any(ln.startswith("SKIP") and "notes.json" in ln for ln in lines)
    assert "1 passed, 1 failed, 1 skipped" in proc.stdout


def test_missing_vector_dir(tmp_path: Path) -> None:
    assert cli("vectors", "--dir", str(tmp_path / "none")).returncode == 2


@pytest.mark.parametrize("command", ["peer", "sniff", "pair", "vectors"])
def test_help_of_each_command(command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: ephkey " + command)


def test_usage_errors_exit_2() -> None:
    assert cli().returncode == 2
    assert cli("nonsense").returncode == 2
    assert cli("vectors", "--bogus").returncode == 2
    assert "out of scope" in cli("peer", "--help").stdout  # BLE peripheral role
