"""tools/deploy.py: mpremote onto a virtual board, then the firmware imports; package.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostkit import REPO, env, free_port, processes_in

import closure
import deploy
import natmod
from vboard import VirtualBoard, find_tool

pytestmark = pytest.mark.timeout(120)


def run_deploy(*args: str, timeout: float = 100) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tools" / "deploy.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env())


@pytest.fixture
def board(tmp_path: Path, micropython_bin: str) -> Iterator[VirtualBoard]:
    vb = VirtualBoard(tmp_path / "flash", name="deploy", micropython=[micropython_bin]).start()
    try:
        assert vb.wait_ready(15), vb.output_tail()
        yield vb
    finally:
        vb.stop()
    assert not processes_in(tmp_path / "flash")


@pytest.mark.slow
def test_deploy_with_mpremote_then_import(board: VirtualBoard) -> None:
    stale = board.flash / "ephkey"
    stale.mkdir()
    (stale / "first.py").write_text("raise ImportError('a stale source must not shadow')\n")
    proc = run_deploy("--board", "unix", "--port", board.url, "--role", "first",
                      "--set", "first.rotate_frames=16", "--messages", "7")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "removed /ephkey/first.py" in proc.stdout
    assert "no ephkey_pairing.json yet" in proc.stdout
    mpys = sorted(p.name for p in (board.flash / "ephkey").iterdir())
    doc = deploy.board_file(deploy.load_board("unix"), "first")
    shipped_native = (board.flash / f"{natmod.MOD}.mpy").exists()  # built where it can be
    c = closure.closure(["first"], doc["transport"],
                        native=[natmod.MOD] if shipped_native else [],
                        suites=closure.board_suites(doc), viper=closure.has_viper(doc["arch"]),
                        port=doc["port"])
    assert mpys == [m + ".mpy" for m in c.modules]  # the role's modules, nothing else
    assert "second.mpy" not in mpys
    native = natmod.built("x64")
    assert (board.flash / f"{natmod.MOD}.mpy").exists() == (native is not None)
    assert (board.flash / "main.py").read_text() == (REPO / "firmware" / "main.py").read_text()
    doc = json.loads((board.flash / "ephkey_board.json").read_text())
    assert doc["roles"] == ["first"] and doc["first"]["rotate_frames"] == 16
    assert doc["app"]["messages"] == 7
    # After the reset main.py ran and stopped (not paired); the REPL answers again.
    mpremote = find_tool("mpremote", "MPREMOTE")
    out = subprocess.run(
        [*mpremote, "connect", board.url, "exec",
         "import ephkey, ephkey._crc, ephkey.first, ephkey.runtime\n"
         "print('ephkey', ephkey.__version__, ephkey.first.__file__)"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    version = re.search(r'__version__ = "([^"]+)"',
                        (REPO / "firmware" / "ephkey" / "__init__.py").read_text())
    assert version
    assert out.stdout.split() == ["ephkey", version.group(1), "ephkey/first.mpy"]
    assert b"not paired" in board.output_tail() or b"no pairing file" in board.output_tail()


def test_deploy_errors(tmp_path: Path) -> None:
    port = f"socket://127.0.0.1:{free_port()}"
    proc = run_deploy("--board", "nosuch", "--port", port)
    assert proc.returncode == 2 and "boards/ has" in proc.stderr
    proc = run_deploy("--board", "unix", "--port", port, "--set", "first.m=11")
    assert proc.returncode == 2 and "m=11" in proc.stderr
    proc = run_deploy("--board", "unix", "--port", port, "--set", "noequals")
    assert proc.returncode == 2
    proc = run_deploy("--board", "unix", "--port", port, "--set", "transport=carrier-pigeon")
    assert proc.returncode == 2
    proc = run_deploy("--board", "unix", "--port", port)
    assert proc.returncode == 3 and "cannot reach a board" in proc.stderr


@pytest.mark.parametrize("item, says", [
    ("bogus.key=1", "--set bogus: not a board-file key"),
    ("first.rotate_frame=16", "--set first.rotate_frame: not a first setting"),
    ("uart.baud=9600", "--set uart.baud: not a uart setting"),
    ("app.mesages=3", "--set app.mesages: not a app setting"),
    ("name.x=1", "name is a value, not a section"),
])
def test_deploy_set_refuses_unknown_keys(tmp_path: Path, item: str, says: str) -> None:
    """A mistyped --set key is refused with the valid keys, before anything is written."""
    proc = run_deploy("--board", "unix", "--dir", str(tmp_path / "flash"), "--set", item)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr and "valid" in proc.stderr or "is a value" in proc.stderr
    assert not (tmp_path / "flash").exists()


def test_deploy_to_a_folder(tmp_path: Path) -> None:
    proc = run_deploy("--board", "rpi_pico_w", "--dir", str(tmp_path), "--role", "second")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ephkey" / "second.mpy").exists() and (tmp_path / "main.py").exists()
    assert not (tmp_path / "ephkey" / "first.mpy").exists(), "the other role's station"
    assert json.loads((tmp_path / "ephkey_board.json").read_text())["roles"] == ["second"]
    assert (REPO / "build" / "mpy" / "armv6m" / "ephkey" / "link.mpy").exists()
    proc = run_deploy("--board", "unix", "--dir", str(tmp_path), "--source")
    assert proc.returncode == 0
    names = {p.name for p in (tmp_path / "ephkey").iterdir()}
    assert "first.py" in names and not any(n.endswith(".mpy") for n in names)


def test_board_file_overrides() -> None:
    doc = deploy.board_file(deploy.load_board("esp32"), "second", 5,
                            deploy.parse_set(["second.retry_ms=300", "app.size=40",
                                              "transport=ble"]))
    assert doc["transport"] == "ble"
    assert doc["roles"] == ["second"] and doc["app"] == {**doc["app"], "messages": 5, "size": 40}
    assert doc["second"]["retry_ms"] == 300
    with pytest.raises(deploy.DeployError, match="lifetime_ms"):
        deploy.board_file(deploy.load_board("esp32"), "first", None,
                          {"first": {"lifetime_ms": 90000}})


def test_package_json_lists_exactly_the_firmware_package() -> None:
    pkg = json.loads((REPO / "package.json").read_text())
    files = sorted(p.name for p in (REPO / "firmware" / "ephkey").glob("*.py"))
    assert pkg["urls"] == [[f"ephkey/{f}", f"firmware/ephkey/{f}"] for f in files], (
        "package.json is stale: list every firmware/ephkey/*.py file, sorted")
    for _, src in pkg["urls"]:
        assert (REPO / src).is_file()
    version = re.search(r'__version__ = "([^"]+)"',
                        (REPO / "firmware" / "ephkey" / "__init__.py").read_text())
    assert version and pkg["version"] == version.group(1)
    assert pkg["deps"] == []
