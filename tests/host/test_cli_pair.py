"""`python -m ephkey_host pair`: well-formed files, never the secret on the console."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hostkit import cli

from ephkey_host.pairing import load_any, load_station_file

pytestmark = pytest.mark.timeout(60)


def test_pair_out_dir(tmp_path: Path) -> None:
    proc = cli("pair", "--out", str(tmp_path), "--ids", "0102030405060708", "a1a2a3a4a5a6a7a8")
    assert proc.returncode == 0, proc.stderr
    first = json.loads((tmp_path / "first" / "ephkey_pairing.json").read_text())
    second = json.loads((tmp_path / "second" / "ephkey_pairing.json").read_text())
    assert set(first) == {"format", "self", "peers"} and first["format"] == 1
    assert first["self"] == "0102030405060708" and second["self"] == "a1a2a3a4a5a6a7a8"
    assert [p["id"] for p in first["peers"]] == ["a1a2a3a4a5a6a7a8"]
    assert [p["id"] for p in second["peers"]] == ["0102030405060708"]
    ps = first["peers"][0]["ps"]
    assert len(bytes.fromhex(ps)) == 32 and second["peers"][0]["ps"] == ps
    for role in ("first", "second"):
        mode = (tmp_path / role / "ephkey_pairing.json").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
    # the secret is never shown, not even in part
    out = proc.stdout + proc.stderr
    assert ps not in out and ps[:16] not in out and ps[-16:] not in out
    assert "0102030405060708" in out and "not shown" in out
    # both files describe the same pair, read the way each station reads them
    f = load_station_file(tmp_path / "first" / "ephkey_pairing.json", "first")
    s = load_station_file(tmp_path / "second" / "ephkey_pairing.json", "second")
    assert f == s and f[0].id_f == bytes.fromhex("0102030405060708")
    assert f[0] in load_any(tmp_path / "second" / "ephkey_pairing.json")


def test_pair_random_ids_and_fresh_secret(tmp_path: Path) -> None:
    docs = []
    for run in ("a", "b"):
        assert cli("pair", "--out", str(tmp_path / run)).returncode == 0
        docs.append(json.loads((tmp_path / run / "first" / "ephkey_pairing.json").read_text()))
    assert docs[0]["self"] != docs[1]["self"]
    assert docs[0]["peers"][0]["ps"] != docs[1]["peers"][0]["ps"]
    assert docs[0]["self"] != docs[0]["peers"][0]["id"]


@pytest.mark.parametrize("args", [
    [],
    ["--port2", "socket://127.0.0.1:1"],
    ["--port", "socket://127.0.0.1:1"],
    ["--port", "x", "--port2", "y", "--host-as", "second"],
    ["--out", "d", "--ids", "0102", "a1a2a3a4a5a6a7a8"],
    ["--out", "d", "--ids", "0102030405060708", "0102030405060708"],
    ["--out", "d", "--ids", "zz02030405060708", "a1a2a3a4a5a6a7a8"],
])
def test_pair_usage_errors(tmp_path: Path, args: list[str]) -> None:
    proc = cli("pair", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip()
    assert not (tmp_path / "d").exists()


def test_pair_unreachable_board(tmp_path: Path) -> None:
    proc = cli("pair", "--port", "socket://127.0.0.1:1", "--host-as", "second",
               "--host-file", str(tmp_path / "host.json"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot reach a board" in proc.stderr
    assert not (tmp_path / "host.json").exists()  # nothing half-done on the host


def test_pair_out_unwritable_is_a_usage_error(tmp_path: Path) -> None:
    """An --out or --host-file that cannot be written ends with exit 2 and a
    sentence, before any board is contacted and before anything is written."""
    (tmp_path / "afile").write_text("x")  # a file where a directory must go
    proc = cli("pair", "--out", str(tmp_path / "afile"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot write pairing files into" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("pair", "--port", "socket://127.0.0.1:1", "--host-as", "second",
               "--host-file", str(tmp_path / "afile" / "host.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot reach" not in proc.stderr  # refused before the board was contacted


def test_pair_out_without_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user can write into a mode-0500 directory (root): "
                        "permissions cannot be tested here")
        proc = cli("pair", "--out", str(locked / "pairs"))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "cannot write pairing files into" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        locked.chmod(0o700)
