"""Emulated board: MicroPython on QEMU's mps2-an385 (a Cortex-M3), console on TCP.

    python tools/emuboard.py --flash DIR --repl-port N [--connect HOST:PORT] [--name NAME]
                             [--load FOLDER] [--icount] [--wait]
    mpremote connect socket://127.0.0.1:N fs ls      (tools/deploy.py --port socket://...)

The image is the one ``make emu`` builds (tools/emubuild.py, build/emu/image/):
the qemu port with ephkey frozen, a littlefs flash and a board's boot
sequence. What a board does, and how it is emulated here:

* Flash: ``DIR/flash.bin`` (1 MiB, made blank if missing) is the board's
  filesystem, mounted at ``/`` at every reset; it stays across resets and
  restarts, like a board's flash. ``--load FOLDER`` (or :func:`make_flash`)
  writes it from a folder while the board is off (``deploy.py --dir`` fills
  such a folder), much faster than ``mpremote fs cp`` over the emulated UART.
* Console: the board's one UART (its REPL, and the link with ``"transport":
  "usb"``) is QEMU's serial port on TCP: a listener on ``--repl-port``
  (``socket://127.0.0.1:N`` for mpremote and pyserial; one client at a time,
  a client may leave and another come) or, with ``--connect HOST:PORT``, a
  connection QEMU opens, e.g. to a side of tools/linksim.py. ``--wait`` holds
  the board until a client connects (the host peer first, then the boot).
* Reset: ``machine.reset()`` and mpremote's ``reset`` reset the emulated chip
  (the connection stays); Ctrl-D soft-resets as on a board; ``main.py`` runs
  after a reset unless it came from the raw REPL.
* Debug output: what the board writes with ``emu.debug`` (the event lines of
  a board whose console carries the link) goes to QEMU's stderr, kept in
  ``DIR/debug.log``; :meth:`EmuBoard.events` reads the ``EPHKEY`` lines from it.
* Time: without ``--icount`` the board's clock is the host's; with it QEMU
  counts instructions (``-icount shift=0``: 1 ns per instruction, so
  ``time.ticks_us()`` differences are instructions / 1000), deterministic
  but usually slower than real time: for measurements, not for talking to a
  peer in real time.

:func:`run` runs a script on a fresh board until it calls ``emu.exit()``
(tests, bench, soak): it returns the console output and the exit status.

Needs qemu-system-arm (Debian package) and the image (``make emu``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from boardkit import find_tool, free_port, kill_group, serve_forever

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / "build" / "emu" / "image" / "firmware.elf"
FLASHIMG = REPO / "tools" / "emu" / "flashimg.py"
QEMU = "qemu-system-arm"
MACHINE = "mps2-an385"
FLASH_KIB = 1024
PREFIX = "EPHKEY "


class EmuError(OSError):
    """The emulator or its image is missing, or a board did not start (an OSError,
    so that tools catching those, e.g. tools/demo.py, report it)."""


def image(path: str | os.PathLike[str] | None = None) -> Path:
    """The firmware image to run; EmuError if it was not built."""
    p = Path(path) if path else IMAGE
    if not p.is_file():
        raise EmuError(f"no emulated board image at {p}: run `make emu`")
    if shutil.which(QEMU) is None:
        raise EmuError(f"{QEMU} not found: install the Debian package qemu-system-arm")
    return p


def qemu_command(elf: Path, serial: str, *, icount: bool = False) -> list[str]:
    """The QEMU command line: the image on mps2-an385, its console as given,
    semihosting for the flash, the RNG and the debug output (QEMU's stderr)."""
    cmd = [QEMU, "-machine", MACHINE, "-nographic", "-monitor", "null",
           "-semihosting-config", "enable=on,target=native",
           "-serial", serial, "-kernel", str(elf)]
    if icount:
        # 1 ns of virtual time per instruction; sleep=off: an idle (WFI) board
        # jumps to its next timer instead of waiting in real time
        cmd += ["-icount", "shift=0,sleep=off"]
    return cmd


def make_flash(folder: str | os.PathLike[str], out: str | os.PathLike[str],
               kib: int = FLASH_KIB) -> None:
    """Write a flash image (littlefs) holding the files of ``folder``, with the
    MicroPython unix VM (the same littlefs as the board's)."""
    mp = find_tool("micropython", "MICROPYTHON")
    proc = subprocess.run([*mp, "-X", "heapsize=%dK" % (kib + 4096), str(FLASHIMG),
                           str(folder), str(out), str(kib)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise EmuError(f"flash image from {folder}: {proc.stdout}{proc.stderr}".strip())


def blank_flash(path: Path, kib: int = FLASH_KIB) -> None:
    path.write_bytes(b"\xff" * (kib * 1024))


class EmuBoard:
    """One emulated board: qemu-system-arm with its flash in ``folder``.

    start() launches QEMU (its console a TCP listener on ``repl_port``, 0: a free
    one, or a connection to ``connect``); stop() ends it.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        repl_port: int = 0,
        *,
        host: str = "127.0.0.1",
        connect: tuple[str, int] | None = None,
        wait: bool = False,
        icount: bool = False,
        name: str = "emu",
        elf: str | os.PathLike[str] | None = None,
        flash_kib: int = FLASH_KIB,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.host = host
        self.repl_port = repl_port
        self.connect = connect
        self.wait = wait
        self.icount = icount
        self.name = name
        self.elf = image(elf)
        self.flash_kib = flash_kib
        self.boots = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._debug_pos = 0
        self._debug_carry = b""

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.repl_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def flash(self) -> Path:
        return self.folder / "flash.bin"

    @property
    def debug_path(self) -> Path:
        return self.folder / "debug.log"

    def load(self, tree: str | os.PathLike[str]) -> None:
        """Replace the flash with the files of ``tree`` (the board must be off)."""
        if self.running():
            raise EmuError(f"{self.name}: stop the board before writing its flash")
        self.folder.mkdir(parents=True, exist_ok=True)
        make_flash(tree, self.flash, self.flash_kib)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> EmuBoard:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.flash.exists() or self.flash.stat().st_size != self.flash_kib * 1024:
            blank_flash(self.flash, self.flash_kib)
        self.debug_path.write_bytes(b"")
        self._debug_pos = 0
        self._debug_carry = b""
        if self.connect:
            serial = "tcp:%s:%d" % self.connect
        else:
            if not self.repl_port:
                self.repl_port = free_port(self.host)
            serial = "tcp:%s:%d,server=on,wait=%s" % (self.host, self.repl_port,
                                                      "on" if self.wait else "off")
        cmd = qemu_command(self.elf, serial, icount=self.icount)
        with open(self.debug_path, "wb") as err:  # emu.debug and QEMU's own messages
            self._proc = subprocess.Popen(cmd, cwd=self.folder, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=err,
                                          start_new_session=True)
        self.boots += 1
        if not self.connect and not self.wait:
            self._wait_listening(timeout)
        time.sleep(0.05)
        if not self.running():
            raise EmuError(f"{self.name}: QEMU ended at start: {self.qemu_log()}")
        return self

    def _wait_listening(self, timeout: float) -> None:
        """Until QEMU's console listener is up (a probe connection is let go at once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise EmuError(f"{self.name}: QEMU ended at start: {self.qemu_log()}")
            try:
                with socket.create_connection((self.host, self.repl_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise EmuError(f"{self.name}: no console on {self.url} after {timeout:.0f} s")

    def stop(self) -> None:
        kill_group(self._proc)

    def qemu_log(self) -> str:
        """The end of the debug output (where QEMU's own messages go too)."""
        try:
            return self.debug_path.read_text(errors="replace").strip()[-2000:]
        except OSError:
            return ""

    def debug_lines(self) -> list[str]:
        """Whole lines the board wrote to its debug output since the last call."""
        try:
            with open(self.debug_path, "rb") as f:
                f.seek(self._debug_pos)
                chunk = f.read()
        except OSError:
            return []
        self._debug_pos += len(chunk)
        data = self._debug_carry + chunk
        *lines, self._debug_carry = data.split(b"\n")
        return [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines]

    def events(self) -> list[dict[str, Any]]:
        """The EPHKEY events among the new debug lines."""
        out = []
        for line in self.debug_lines():
            i = line.find(PREFIX)
            if i < 0:
                continue
            try:
                ev = json.loads(line[i + len(PREFIX):])
            except ValueError:
                continue
            if isinstance(ev, dict):
                out.append(ev)
        return out

    def wait_event(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next event of that kind; EmuError on timeout, a stop or the board's end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events():
                if ev.get("ev") == kind:
                    return ev
                if ev.get("ev") == "stopped":
                    raise EmuError(f"{self.name} stopped: {ev.get('reason')}")
            if not self.running():
                raise EmuError(f"{self.name}: QEMU ended: {self.qemu_log()}")
            time.sleep(0.05)
        raise EmuError(f"{self.name}: no {kind!r} event in {timeout:.0f} s")

    def __enter__(self) -> EmuBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Run:
    """The result of :func:`run`: exit status (None: timed out), console, debug output."""

    def __init__(self, status: int | None, output: str, debug: str, seconds: float) -> None:
        self.status = status
        self.output = output
        self.debug = debug
        self.seconds = seconds


def run(tree: str | os.PathLike[str], *, timeout: float = 300, icount: bool = False,
        elf: str | os.PathLike[str] | None = None, flash_kib: int = FLASH_KIB,
        workdir: str | os.PathLike[str] | None = None) -> Run:
    """Boot a fresh board whose flash holds the files of ``tree`` (its main.py
    runs, and ends the emulator with ``emu.exit(code)``); nothing is sent to it.

    The console is QEMU's standard output, the debug output its standard error."""
    elf_path = image(elf)
    with tempfile.TemporaryDirectory(prefix="emu-run-", dir=workdir) as tmp:
        make_flash(tree, Path(tmp) / "flash.bin", flash_kib)
        cmd = qemu_command(elf_path, "stdio", icount=icount)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            status: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            status = None
        seconds = time.monotonic() - t0
    return Run(status, out.decode("utf-8", "replace").replace("\r\n", "\n"),
               err.decode("utf-8", "replace"), seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="MicroPython on an emulated Cortex-M3 (QEMU mps2-an385), console on TCP.")
    parser.add_argument("--flash", required=True, help="folder of the board's flash.bin and logs")
    parser.add_argument("--repl-port", type=int, default=0, help="console TCP port (0: any)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--connect", metavar="HOST:PORT",
                        help="QEMU connects its console there (e.g. a tools/linksim.py side)")
    parser.add_argument("--load", metavar="FOLDER", help="write the flash from this folder first")
    parser.add_argument("--wait", action="store_true", help="boot when a client connects")
    parser.add_argument("--icount", action="store_true",
                        help="count instructions (-icount shift=0): deterministic ticks_us")
    parser.add_argument("--name", default="emu")
    parser.add_argument("--image", help="firmware.elf (default: build/emu/image, make emu)")
    args = parser.parse_args(argv)
    connect = None
    if args.connect:
        h, _, p = args.connect.rpartition(":")
        connect = (h or "127.0.0.1", int(p))
    try:
        board = EmuBoard(args.flash, args.repl_port, host=args.host, connect=connect,
                         wait=args.wait, icount=args.icount, name=args.name, elf=args.image)
        if args.load:
            board.load(args.load)
        board.start()
    except (EmuError, OSError) as e:
        print(e, file=sys.stderr)
        return 2
    where = f"console -> {args.connect}" if connect else board.url
    return serve_forever(board, f"emuboard {board.name}: {where} flash={board.flash} "
                         f"debug={board.debug_path}")


if __name__ == "__main__":
    sys.exit(main())
