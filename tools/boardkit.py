"""What the board stand-ins share: tools/vboard.py (the unix port run like a
board) and tools/emuboard.py (the emulated Cortex-M board).

* :func:`find_tool`: a console script or program: ``$ENV_VAR``, else next to
  the running interpreter, else on PATH;
* :func:`free_port`: a TCP port nothing listens on (for a board's console);
* :func:`kill_group`: end a board's process and everything it started;
* :func:`serve_forever`: run a board in the foreground until Ctrl-C or
  SIGTERM (the command lines of both tools).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol


def find_tool(name: str, env_var: str) -> list[str]:
    """Command for a console script: $ENV_VAR, else next to sys.executable, else PATH."""
    override = os.environ.get(env_var, "").strip()
    if override:
        return [override] if os.path.exists(override) else shlex.split(override)
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    raise FileNotFoundError(f"{name} not found next to {sys.executable} or on PATH; set {env_var}=")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def kill_group(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a process started with start_new_session=True, and its children."""
    if proc and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


class _Board(Protocol):
    def stop(self) -> None: ...


def serve_forever(board: _Board, banner: str) -> int:
    """Print banner, then keep the (started) board running until Ctrl-C or SIGTERM."""
    print(banner, flush=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # Event.set() in a handler can deadlock
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt
