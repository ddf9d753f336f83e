"""Virtual board: the MicroPython unix port run like a board, REPL on TCP.

    python tools/vboard.py --flash DIR --repl-port N [--uart-port M] [--name NAME]
    mpremote connect socket://127.0.0.1:N fs cp main.py :main.py + reset

What a board does, and how it is emulated here:

* Flash: DIR is the board's filesystem. The process runs with DIR as its
  working directory and a bootstrap remounts DIR as the VFS root, so `/`,
  `/lib`, `open("/x")`, `mpremote fs cp f :f` and `mpremote mip install` all
  land in DIR, and sys.path is `['', '.frozen', '/lib']` as on a board
  (MICROPYPATH is set to the same as a fallback). The root is not a
  sandbox: `/..` reaches the host.
* Boot: `micropython -i -c BOOTSTRAP`. The bootstrap runs `boot.py` then
  `main.py` (if present) in the REPL's globals, printing tracebacks as a board
  does, and `-i` then drops into the interactive REPL.
* Serial: the process sits on a pseudo-terminal (the unix port only runs its
  REPL on a tty) whose master is bridged to a TCP listener: pyserial's
  `socket://127.0.0.1:N` URL, which mpremote accepts. One client at a time;
  a new connection replaces the old one (a serial port has one user).
* Reset: the unix port exits on Ctrl-D (soft reset) and on SystemExit (the
  bootstrap reports one from boot.py/main.py, which `-i` would swallow). The
  bridge then prints `MPY: soft reboot`, restarts the process on the same
  flash and, like a board, runs `main.py` only if it was in the friendly REPL;
  after a soft reset in the raw REPL it runs `boot.py` and returns to the raw
  REPL (mpremote relies on this). `machine.reset()` is a hard reset (restart,
  friendly REPL, no message); `machine.soft_reset()` raises SystemExit.
  A crash restarts the process too, with a backoff if it keeps crashing.
* The board's output is translated LF -> CRLF (a board's print does that;
  the pty's own ONLCR is off because it would double the unix REPL's CRLFs).
* Input: the TCP listener stays open across restarts, so a client may stay
  connected through a reset or connect while the board restarts. Bytes the
  client sends while the process starts (and while the bridge takes it back
  to the raw REPL) are held and delivered in order once it can take them,
  as typeahead; bytes still undelivered when the process exits are dropped,
  as a resetting board misses them, and so is held input when the client
  disconnects or beyond 64 KiB. Ctrl-C becomes SIGINT (KeyboardInterrupt)
  while the VM runs Python code, which the bridge reads from the signal
  mask in /proc/PID/status; otherwise it goes in as a byte (the unix port
  dies on SIGINT when no code runs, and runs raw-paste code with the tty
  still raw, so the tty mode cannot tell). Output with no client connected
  is dropped (kept in `output_tail()` and the optional log), like a UART
  nobody listens to.
* UART: the unix port has no machine.UART. `--uart-port M` is recorded in
  `DIR/vboard.json`, read by the firmware at `/vboard.json`:
      {"name": NAME, "repl": {"host": H, "port": N},
       "uart": {"host": "127.0.0.1", "port": M}}
  The firmware opens a TCP connection there (tools/linksim.py). Other keys in
  an existing vboard.json are kept.
* `machine.unique_id()` returns 8 bytes derived from NAME.

Limitations: `mpremote mount` (binary stdout) is not supported; `fs ls`
shows sizes as 0 (the unix VFS lists no sizes); a Ctrl-C that lands in the
microseconds between the signal-mask check and the VM finishing its code
kills the process, which then comes back as after a soft reset. Linux only
(pty, /proc).

The binary is the `micropython` console script next to sys.executable, or
MICROPYTHON=/path (a command line, e.g. with a wrapper, if it is not a file).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import pty
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from boardkit import find_tool, kill_group, serve_forever

__all__ = ["VirtualBoard", "find_tool"]

log = logging.getLogger("vboard")

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER = b'Type "help()" for more information.'
SOFT_REBOOT = b"MPY: soft reboot\r\n"
# Events from the bootstrap travel in-band as APC escapes (terminals ignore
# them; the bridge strips them).
EVENT_PREFIX = b"\x1b_vboard:"
EVENT_END = b"\x1b\\"
MAX_PENDING = 64 * 1024
MAX_CLIENT_BACKLOG = 1024 * 1024

BOOTSTRAP = r"""
def _vb(run_main, name):
    import os, sys, time
    w = sys.stdout.write
    try:
        root = os.getcwd()
        os.umount("/")
        os.mount(os.VfsPosix(root), "/")
        os.chdir("/")
        sys.path[:] = ["", ".frozen", "/lib"]
    except Exception as e:
        w("vboard: flash remount failed: %r\n" % (e,))
    try:
        _vb_machine(name, w)
    except Exception as e:
        w("vboard: no machine shim: %r\n" % (e,))
    g = globals()
    run = getattr(__import__("builtins"), "execfile", None)
    if run is None:
        run = lambda f, g: exec(open(f).read(), g)
    try:
        w("\x1b_vboard:start\x1b\\")
        for f in ("boot.py", "main.py") if run_main else ("boot.py",):
            try:
                os.stat(f)
            except OSError:
                continue
            try:
                run(f, g)
            except SystemExit:
                w("\x1b_vboard:softreset\x1b\\")
                while True:
                    time.sleep(1)  # until the bridge restarts the process
            except (Exception, KeyboardInterrupt) as e:
                sys.print_exception(e)
    finally:
        w("\x1b_vboard:ready\x1b\\")

def _vb_machine(name, w):
    import os, sys
    for p in ("machine.py", "lib/machine.py", "machine.mpy", "lib/machine.mpy"):
        try:
            os.stat(p)
            return
        except OSError:
            pass
    import machine, time, hashlib

    class Machine:
        pass

    m = Machine()
    for k in dir(machine):
        if not k.startswith("__"):
            setattr(m, k, getattr(machine, k))

    def reset():
        w("\x1b_vboard:reset\x1b\\")
        while True:
            time.sleep(1)

    def soft_reset():
        raise SystemExit

    def unique_id():
        return hashlib.sha256(name.encode()).digest()[:8]

    m.reset, m.soft_reset, m.unique_id = reset, soft_reset, unique_id
    sys.modules["machine"] = m

_vb(RUN_MAIN, BOARD_NAME)
del _vb, _vb_machine
"""


def _configure_tty(fd: int) -> None:
    """Termios the process sees while code runs (the REPL switches to raw itself).

    No echo, no line editing, no signals, no output processing. NOFLSH is
    only a marker: the unix REPL clears every lflag bit while it waits for
    input, so lflag == 0 tells the bridge "REPL is reading".
    """
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(
        termios.ICRNL
        | termios.INLCR
        | termios.IGNCR
        | termios.IXON
        | termios.BRKINT
        | termios.ISTRIP
        | termios.INPCK
    )
    attrs[1] &= ~termios.OPOST
    attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    attrs[3] = termios.NOFLSH
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class _EventScanner:
    """Splits process output into bytes and bootstrap event names, across reads."""

    def __init__(self) -> None:
        self.carry = b""
        self.since = 0.0  # last feed that left a carry

    def feed(self, data: bytes) -> list[bytes | str]:
        data = self.carry + data
        self.carry = b""
        items: list[bytes | str] = []
        while data:
            i = data.find(EVENT_PREFIX)
            if i < 0:
                keep = _partial_suffix(data, EVENT_PREFIX)
                items.append(data[: len(data) - keep])
                self.carry = data[len(data) - keep :]
                break
            items.append(data[:i])
            j = data.find(EVENT_END, i + len(EVENT_PREFIX))
            if j < 0:
                if len(data) - i > 64:  # not one of ours
                    items.append(data[i : i + 1])
                    data = data[i + 1 :]
                    continue
                self.carry = data[i:]
                break
            items.append(data[i + len(EVENT_PREFIX) : j].decode("ascii", "replace"))
            data = data[j + len(EVENT_END) :]
        if self.carry:
            self.since = time.monotonic()
        return [x for x in items if x]

    def flush(self) -> bytes:
        data, self.carry = self.carry, b""
        return data


def _partial_suffix(data: bytes, prefix: bytes) -> int:
    """Length of the longest end of data that begins prefix."""
    for n in range(min(len(data), len(prefix) - 1), 0, -1):
        if data.endswith(prefix[:n]):
            return n
    return 0


class _Crlf:
    """Lone LF -> CRLF, with state across chunks."""

    def __init__(self) -> None:
        self.last_cr = False

    def __call__(self, data: bytes) -> bytes:
        if not data:
            return data
        out = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if self.last_cr and data[:1] == b"\n":
            out = out[1:]  # its CR went out with the previous chunk
        self.last_cr = data[-1:] == b"\r"
        return out


class VirtualBoard:
    """One virtual board: a MicroPython process on a pty, bridged to TCP.

    start() binds the listener (raises OSError if the port is taken) and runs
    the bridge in a daemon thread; stop() ends the process and closes ports.
    """

    # Bridge states. booting: process starting, input held. main: bootstrap
    # (boot.py/main.py) running. settling: bootstrap done, REPL not yet reading.
    # entering_raw: taking a restarted process back to the raw REPL.
    # repl: REPL up (possibly running a command). down: no process.
    def __init__(
        self,
        flash: str | os.PathLike[str],
        repl_port: int = 0,
        *,
        host: str = "127.0.0.1",
        uart_port: int | None = None,
        uart_host: str = "127.0.0.1",
        name: str = "vboard",
        heapsize: str | None = None,
        micropython: list[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.flash = Path(flash).resolve()
        self.host = host
        self.repl_port = repl_port
        self.uart_port = uart_port
        self.uart_host = uart_host
        self.name = name
        self.heapsize = heapsize
        self.micropython = micropython or find_tool("micropython", "MICROPYTHON")
        if not shutil.which(self.micropython[0]):
            raise FileNotFoundError(f"MicroPython binary not found: {self.micropython[0]}")
        self.log_path = log_path
        self.boots = 0  # process starts, the first included
        self.state = "down"
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel = selectors.DefaultSelector()
        self._client: socket.socket | None = None
        self._client_out = bytearray()
        self._pending = bytearray()  # client -> board, not yet written
        self._proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._scanner = _EventScanner()
        self._crlf = _Crlf()
        self._raw = False  # REPL mode last seen in the output
        self._mode_tail = b""
        self._suppressed = bytearray()
        self._hard_reset = False
        self._settle_since = 0.0
        self._respawn_at: float | None = None
        self._respawn_raw = False
        self._boot_raw = False
        self._reached_repl = False
        self._fast_exits = 0
        self._tail = bytearray()
        self._tail_lock = threading.Lock()
        self._log_file: io.RawIOBase | None = None

    # -- public API ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.repl_port}"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc else None

    def start(self) -> VirtualBoard:
        self.flash.mkdir(parents=True, exist_ok=True)
        (self.flash / "lib").mkdir(exist_ok=True)
        try:
            self._listener = socket.create_server((self.host, self.repl_port))
        except OSError as e:
            where = f"{self.host}:{self.repl_port}"
            msg = f"vboard {self.name}: cannot listen on {where}: {e.strerror}"
            raise OSError(e.errno, msg) from e
        self._listener.setblocking(False)
        self.repl_port = self._listener.getsockname()[1]
        self._write_config()
        if self.log_path:
            self._log_file = open(self.log_path, "ab", buffering=0)  # closed in stop()
        self._sel.register(self._listener, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._run, name=f"vboard-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread:
            self._thread.join(timeout)
        self._kill_process()
        for s in (self._client, self._listener, self._wake_r, self._wake_w):
            if s:
                s.close()
        self._client = self._listener = None
        self._sel.close()
        if self._log_file:
            self._log_file.close()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until the REPL is up (boot.py/main.py done or interrupted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state == "repl":
                return True
            time.sleep(0.01)
        return False

    def output_tail(self) -> bytes:
        """The last 64 KiB the board printed (whether or not a client listened)."""
        with self._tail_lock:
            return bytes(self._tail)

    def __enter__(self) -> VirtualBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bridge loop --------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:
            log.exception("%s: bridge failed", self.name)
        finally:
            self._kill_process()
            if self._master is not None:
                os.close(self._master)
                self._master = None
            self.state = "down"

    def _loop(self) -> None:
        self._spawn(run_main=True, raw=False)
        while not self._stop.is_set():
            events = self._sel.select(self._timeout())
            for key, mask in events:
                # An earlier event of this batch may have dropped the client
                # (failed send) or ended the process: skip stale ones.
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    self._wake_r.recv(64)
                elif key.data == "client" and key.fileobj is self._client:
                    if mask & selectors.EVENT_READ:
                        self._client_readable()
                    if mask & selectors.EVENT_WRITE and self._client:
                        self._client_flush()
                elif key.data == "master" and key.fileobj == self._master:
                    if mask & selectors.EVENT_READ:
                        self._master_readable()
                    if mask & selectors.EVENT_WRITE:
                        self._pump_input()
            self._tick()
            self._update_interest()

    def _timeout(self) -> float:
        if self.state in ("settling", "booting") or self._pending or self._respawn_at:
            return 0.01
        return 0.2

    def _tick(self) -> None:
        now = time.monotonic()
        if self._respawn_at is not None and now >= self._respawn_at:
            self._respawn_at = None
            self._spawn(run_main=not self._respawn_raw, raw=self._respawn_raw)
        if self.state == "booting" and self._repl_reading():
            log.warning("%s: the bootstrap did not report, but the REPL is up", self.name)
            self.state = "repl"
        if self.state == "settling" and (self._repl_reading() or now - self._settle_since > 5):
            self.state = "repl"
            self._reached_repl = True
        if self.state == "entering_raw" and now - self._settle_since > 5:
            log.warning("%s: no raw REPL after reset; giving up on it", self.name)
            self.state = "repl"
            self._on_output(bytes(self._suppressed))
        if self._scanner.carry and now - self._scanner.since > 0.5:
            self._on_output(self._scanner.flush())  # an ESC that began no event
        if self._proc and self._proc.poll() is not None:
            # Exited: read what it printed; if the pty is still open (a child
            # of it holds the slave), restart anyway.
            while self._master_readable():
                pass
            if self._master is not None:
                self._process_exited()
        self._pump_input()

    def _update_interest(self) -> None:
        client_ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._client_out else 0)
        self._set_interest(self._client, "client", client_ev)
        if self._master is not None:
            ev = 0
            if len(self._client_out) < MAX_CLIENT_BACKLOG:
                ev |= selectors.EVENT_READ  # else let the process block on output
            if self._pending and self.state in ("main", "repl"):
                ev |= selectors.EVENT_WRITE
            self._set_interest(self._master, "master", ev)

    def _set_interest(self, fileobj: socket.socket | int | None, tag: str, events: int) -> None:
        if fileobj is None:
            return
        try:
            key = self._sel.get_key(fileobj)
        except KeyError:
            if events:
                self._sel.register(fileobj, events, tag)
            return
        if not events:
            self._sel.unregister(fileobj)
        elif key.events != events:
            self._sel.modify(fileobj, events, tag)

    # -- TCP side -----------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener
        try:
            conn, addr = self._listener.accept()
        except BlockingIOError:
            return
        if self._client:
            log.info("%s: new connection from %s replaces the old one", self.name, addr)
            self._drop_client()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = conn

    def _drop_client(self) -> None:
        if self._client:
            self._sel_forget(self._client)
            self._client.close()
        self._client = None
        self._client_out.clear()
        self._pending.clear()  # nobody is left to have typed it

    def _sel_forget(self, fileobj: socket.socket | int) -> None:
        try:
            self._sel.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    def _client_readable(self) -> None:
        assert self._client
        try:
            data = self._client.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        room = MAX_PENDING - len(self._pending)
        if len(data) > room:
            log.warning("%s: input buffer full, dropping %d bytes", self.name, len(data) - room)
        self._pending += data[:room]
        self._pump_input()

    def _client_flush(self) -> None:
        assert self._client
        try:
            n = self._client.send(self._client_out)
        except BlockingIOError:
            return
        except OSError:
            self._drop_client()
            return
        del self._client_out[:n]

    def _emit_output(self, data: bytes) -> None:
        if not data:
            return
        with self._tail_lock:
            self._tail += data
            del self._tail[:-65536]
        if self._log_file:
            self._log_file.write(data)
        if self._client:
            self._client_out += data
            self._client_flush()

    # -- process side -------------------------------------------------------

    def _spawn(self, *, run_main: bool, raw: bool) -> None:
        master, slave = pty.openpty()
        try:
            _configure_tty(slave)
            path = f".frozen:{self.flash / 'lib'}"
            env = dict(os.environ, MICROPYPATH=path, VBOARD_NAME=self.name)
            heap = ["-X", f"heapsize={self.heapsize}"] if self.heapsize else []
            code = BOOTSTRAP.replace("RUN_MAIN", repr(run_main))
            code = code.replace("BOARD_NAME", repr(self.name))
            self._proc = subprocess.Popen(
                [*self.micropython, *heap, "-i", "-c", code],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self.flash,
                env=env,
                start_new_session=True,  # own process group, so stop() ends all of it
            )
        except OSError as e:
            os.close(master)
            log.error("%s: cannot start %s: %s", self.name, self.micropython, e)
            self._reached_repl = False
            self._schedule_respawn(raw)
            return
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._scanner = _EventScanner()
        self._raw = raw
        self._boot_raw = raw
        self._hard_reset = False
        self._reached_repl = False
        self.boots += 1
        self.state = "booting"

    def _master_readable(self) -> bool:
        """Handle one read of the board's output; False if there was none."""
        if self._master is None:
            return False
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return False
        except OSError:  # EIO: every slave fd closed, the process is gone
            data = b""
        if not data:
            self._on_output(self._scanner.flush())
            self._process_exited()
            return False
        for item in self._scanner.feed(data):
            if isinstance(item, str):
                if self._proc is not None:  # not after a reset event
                    self._on_event(item)
            else:
                self._on_output(item)
        return True

    def _on_event(self, event: str) -> None:
        if event == "start":
            self.state = "main"
        elif event == "ready":
            if self._boot_raw:
                # A board reset from the raw REPL comes back in the raw REPL.
                assert self._master is not None
                os.write(self._master, b"\x01")
                self._suppressed.clear()
                self.state = "entering_raw"
            else:
                self.state = "settling"
            self._settle_since = time.monotonic()
        elif event in ("reset", "softreset"):
            # machine.reset(), or SystemExit in boot.py/main.py (which -i
            # would turn into a REPL; a board soft-resets).
            self._hard_reset = event == "reset"
            self._kill_process()
            self._process_exited()

    def _on_output(self, data: bytes) -> None:
        if self.state == "entering_raw":
            # Hide the friendly banner a board would not print here.
            self._suppressed += data
            i = self._suppressed.find(RAW_BANNER)
            if i < 0:
                del self._suppressed[: -len(RAW_BANNER)]
                return
            data = bytes(self._suppressed[i:])
            self._suppressed.clear()
            self.state = "repl"
            self._reached_repl = True
        seen = self._mode_tail + data
        raw_at, friendly_at = seen.rfind(RAW_BANNER), seen.rfind(FRIENDLY_BANNER)
        if raw_at != friendly_at:
            self._raw = raw_at > friendly_at
        self._mode_tail = seen[-48:]
        self._emit_output(self._crlf(data))

    def _repl_reading(self) -> bool:
        if self._master is None:
            return False
        try:
            return termios.tcgetattr(self._master)[3] == 0
        except termios.error:
            return False

    def _pump_input(self) -> None:
        """Write held input to the process as far as its state allows."""
        if self._master is None or self.state not in ("main", "repl"):
            return
        while self._pending:
            if self._pending[0] == 3 and self._interruptible():
                # What a board's UART IRQ does for Ctrl-C while code runs.
                del self._pending[0]
                assert self._proc
                os.kill(self._proc.pid, signal.SIGINT)
                continue
            j = self._pending.find(b"\x03", 1)
            chunk = self._pending if j < 0 else self._pending[:j]
            try:
                n = os.write(self._master, chunk)
            except BlockingIOError:
                return
            except OSError:
                return  # process going away; EIO on read will follow
            del self._pending[:n]
            if n < len(chunk):
                return

    def _interruptible(self) -> bool:
        """True while the VM runs Python code: only then it handles SIGINT.

        Otherwise SIGINT kills it (and raw-paste runs code with the tty still
        raw, so the tty mode cannot tell). Ctrl-C then goes in as a byte.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
        except (OSError, ValueError):
            pass
        return not self._repl_reading()  # no /proc: guess from the tty mode

    def _process_exited(self) -> None:
        proc, self._proc = self._proc, None
        if self._master is not None:
            self._sel_forget(self._master)
            os.close(self._master)
            self._master = None
        rc = None
        if proc:
            try:
                rc = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
        self.state = "down"
        self._pending.clear()  # a board misses what is sent while it resets
        if self._stop.is_set():
            return
        hard = self._hard_reset
        log.info("%s: process exited (rc=%s), %s reset", self.name, rc, "hard" if hard else "soft")
        if not hard:
            self._emit_output(SOFT_REBOOT)
        self._crlf = _Crlf()
        self._mode_tail = b""
        self._schedule_respawn(raw=self._raw and not hard)

    def _schedule_respawn(self, raw: bool) -> None:
        # Resets asked for at the REPL are normal; dying before the REPL
        # (a crash, main.py exiting or resetting) repeatedly gets a backoff.
        self._fast_exits = 0 if self._reached_repl else self._fast_exits + 1
        delay = 0.0 if self._fast_exits < 3 else min(0.25 * 2 ** (self._fast_exits - 3), 5.0)
        if delay:
            log.warning("%s: process keeps exiting; restarting in %.2f s", self.name, delay)
        self._respawn_raw = raw
        self._respawn_at = time.monotonic() + delay

    def _kill_process(self) -> None:
        kill_group(self._proc)

    def _write_config(self) -> None:
        path = self.flash / "vboard.json"
        try:
            config = json.loads(path.read_text())
            if not isinstance(config, dict):
                config = {}
        except (OSError, ValueError):
            config = {}
        config["name"] = self.name
        config["repl"] = {"host": self.host, "port": self.repl_port}
        if self.uart_port is not None:
            config["uart"] = {"host": self.uart_host, "port": self.uart_port}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(config, indent=1) + "\n")
        tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MicroPython unix VM run as a board, REPL on TCP.")
    parser.add_argument("--flash", required=True, help="folder that is the board's filesystem")
    parser.add_argument("--repl-port", type=int, required=True, help="REPL TCP port (0: any)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--uart-port", type=int, help="link simulator port, written to vboard.json")
    parser.add_argument("--uart-host", default="127.0.0.1")
    parser.add_argument("--name", default="vboard")
    parser.add_argument("--heapsize", help="MicroPython heap, e.g. 256K (default: the port's)")
    parser.add_argument("--log", help="append everything the board prints to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        board = VirtualBoard(
            args.flash,
            args.repl_port,
            host=args.host,
            uart_port=args.uart_port,
            uart_host=args.uart_host,
            name=args.name,
            heapsize=args.heapsize,
            log_path=args.log,
        )
        board.start()
    except OSError as e:  # FileNotFoundError included
        print(e, file=sys.stderr)
        return 2
    return serve_forever(board, f"vboard {board.name}: {board.url} flash={board.flash}")


if __name__ == "__main__":
    sys.exit(main())
