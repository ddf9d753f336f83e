"""tools/vboard.py: a MicroPython unix VM driven by mpremote like a board."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vboard import VirtualBoard, find_tool

TOOLS = Path(__file__).resolve().parents[2] / "tools"
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def mpremote() -> list[str]:
    try:
        return find_tool("mpremote", "MPREMOTE")
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def board(tmp_path: Path, micropython_bin: str) -> Iterator[VirtualBoard]:
    vb = VirtualBoard(
        tmp_path / "flash", 0, name="t1", uart_port=4242, micropython=[micropython_bin]
    ).start()
    try:
        assert vb.wait_ready(15), vb.output_tail()
        yield vb
    finally:
        pid = vb.pid
        vb.stop()
        if pid:
            assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_mpremote(
    mpremote: list[str],
    board: VirtualBoard,
    *args: str,
    cwd: Path | None = None,
    timeout: float = 30,
) -> str:
    proc = subprocess.run(
        [*mpremote, "connect", board.url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    assert proc.returncode == 0, (
        f"mpremote {args}: {proc.stdout}{proc.stderr}\nboard said: {board.output_tail()[-2000:]!r}"
    )
    return proc.stdout


def wait_for(predicate: Callable[[], object], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_deploy_import_soft_reset(board: VirtualBoard, mpremote: list[str], tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text("def answer():\n    return 6 * 7\n")
    (tmp_path / "script.py").write_text("import mymod\nprint('script', mymod.answer() + 1)\n")
    run_mpremote(mpremote, board, "fs", "cp", "mymod.py", ":mymod.py", cwd=tmp_path)
    assert (board.flash / "mymod.py").read_text().startswith("def answer")
    assert "mymod.py" in run_mpremote(mpremote, board, "fs", "ls")
    out = run_mpremote(mpremote, board, "exec", "import mymod; print(mymod.answer())")
    assert out.strip() == "42"
    assert run_mpremote(mpremote, board, "run", "script.py", cwd=tmp_path).strip() == "script 43"

    boots = board.boots
    run_mpremote(mpremote, board, "soft-reset")
    assert board.boots > boots  # the process really restarted
    out = run_mpremote(
        mpremote, board, "exec", "import os, mymod; print(mymod.answer(), sorted(os.listdir('/')))"
    )
    assert out.startswith("42 ") and "'mymod.py'" in out
    # Chained commands in one connection, and one connection after another.
    out = run_mpremote(mpremote, board, "eval", "1+1", "+", "soft-reset", "+", "eval", "2+2")
    assert out.split() == ["2", "4"]
    for i in range(3):
        assert run_mpremote(mpremote, board, "eval", f"{i}*3").strip() == str(i * 3)


def test_main_py_runs_at_boot_like_a_board(
    board: VirtualBoard, mpremote: list[str], tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text(
        "import sys\n"
        "with open('/booted.txt', 'a') as f:\n"
        "    f.write('%s %s\\n' % (__name__, sys.path))\n"
    )
    run_mpremote(mpremote, board, "fs", "cp", "main.py", ":main.py", cwd=tmp_path)
    booted = board.flash / "booted.txt"
    assert not booted.exists()
    run_mpremote(mpremote, board, "reset")  # machine.reset(): a hard reset
    assert wait_for(booted.exists), board.output_tail()
    assert booted.read_text() == "__main__ ['', '.frozen', '/lib']\n"
    # A soft reset from the raw REPL (what mpremote does) skips main.py, as on
    # a board; one from the friendly REPL (Ctrl-D at >>>) runs it.
    run_mpremote(mpremote, board, "soft-reset")
    assert len(booted.read_text().splitlines()) == 1
    with socket.create_connection(("127.0.0.1", board.repl_port), timeout=5) as sock:
        sock.settimeout(5)
        sock.sendall(b"\r\x02")  # friendly REPL
        assert wait_for(lambda: board.output_tail().endswith(b">>> "))
        sock.sendall(b"\x04")
        assert wait_for(lambda: len(booted.read_text().splitlines()) == 2), board.output_tail()
    assert b"MPY: soft reboot\r\n" in board.output_tail()


def test_config_file_and_machine(board: VirtualBoard, mpremote: list[str]) -> None:
    config = json.loads((board.flash / "vboard.json").read_text())
    assert config["uart"] == {"host": "127.0.0.1", "port": 4242}
    assert config["repl"]["port"] == board.repl_port
    out = run_mpremote(
        mpremote,
        board,
        "exec",
        "import json, machine\n"
        "print(json.load(open('/vboard.json'))['uart']['port'])\n"
        "print(len(machine.unique_id()), hasattr(machine, 'idle'))\n",
    )
    assert out.split() == ["4242", "8", "True"]


def test_recovers_from_crash_and_interrupts_running_code(
    board: VirtualBoard, mpremote: list[str]
) -> None:
    boots = board.boots
    assert board.pid
    os.kill(board.pid, signal.SIGKILL)  # the VM process this test's board started
    assert run_mpremote(mpremote, board, "eval", "'alive'").strip() == "alive"
    assert board.boots > boots
    # A command left running (mpremote gone) is interrupted by the next one.
    run_mpremote(mpremote, board, "exec", "--no-follow", "import time; time.sleep(60)")
    t0 = time.monotonic()
    assert run_mpremote(mpremote, board, "eval", "'free'").strip() == "free"
    assert time.monotonic() - t0 < 8


def test_boot_loop_backs_off(tmp_path: Path, micropython_bin: str) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("raise SystemExit\n")  # resets the board at every boot
    with VirtualBoard(flash, 0, micropython=[micropython_bin]) as vb:
        time.sleep(1.5)
        assert 3 <= vb.boots <= 8  # restarts, but not in a tight loop
        (flash / "main.py").unlink()  # as one would fix a board's flash
        assert vb.wait_ready(10), vb.output_tail()


def test_port_in_use(board: VirtualBoard, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot listen"):
        VirtualBoard(tmp_path / "other", board.repl_port).start()


def test_cli(tmp_path: Path, mpremote: list[str], micropython_bin: str) -> None:
    env = dict(os.environ, MICROPYTHON=micropython_bin)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(TOOLS / "vboard.py"),
            "--flash",
            str(tmp_path / "flash"),
            "--repl-port",
            "0",
            "--uart-port",
            "5555",
            "--name",
            "cli",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout
        line = proc.stdout.readline()  # vboard cli: socket://127.0.0.1:N flash=...
        url = line.split()[2]
        assert url.startswith("socket://127.0.0.1:")
        out = subprocess.run(
            [*mpremote, "connect", url, "exec", "print(6*7)"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.stdout.strip() == "42", out.stderr
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        vm_pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        proc.terminate()
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert json.loads((tmp_path / "flash" / "vboard.json").read_text())["uart"]["port"] == 5555
    assert not any(_alive(pid) for pid in vm_pids)
