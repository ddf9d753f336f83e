"""`make demo`: two virtual boards establish a session over a simulated UART.

    python tools/demo.py [--messages 100] [--rotate-frames 48] [--idrks 8] [--source]

1. A link simulator (tools/linksim.py) joins two UART endpoints like a
   115200 8N1 line, with an in-process tap feeding the sniffer
   (ephkey_host.sniff).
2. Two virtual boards (tools/vboard.py: the MicroPython unix port run like a
   board, fresh flash folders under build/demo/) get their UART wired to the
   two ends (vboard.json): the first station on side A, the second on side B.
3. Pairing as `python -m ephkey_host pair --port A --port2 B` does it, then the
   firmware as tools/deploy.py installs it on real boards (mpremote: .mpy for
   the board's arch, main.py, the board file with the demo's overrides), both
   boards at once.
4. Each board is reset from its console (Ctrl-D at the REPL, as on a board):
   the first station, then, once it is up, the second, which opens a session,
   sends --messages payloads, checks the echoes (keys rotate every
   --rotate-frames DATA frames) and closes it.
5. Meanwhile the sniffer prints the wire, decoded and validated with the
   pairing: every handshake frame, every REKEY/KEY_ACK/CLOSE, the first and
   last DATA frames around them (the middle is summarised).
6. A summary: handshake time, bytes on the wire, frames, rotations, the second
   station's own summary line, verdicts. The second station's ``bytes_out``
   is its count when it prints its summary, before its CLOSE leaves: the
   sniffer's B->A count is that plus the CLOSE's wire bytes (checked).

With --emu the two boards are emulated Cortex-M3 boards instead
(tools/emuboard.py, `make emu` first): each board's one UART is its console,
which carries the link ("transport": "usb"), wired to the link simulator; the
firmware (armv6m .mpy), board file and pairing go straight into each board's
flash (as tools/deploy.py --dir writes them), the boards' event lines come
from their debug output, and "reset" is powering the board on.

Exit 0 only if the session completed, at least 2 rotations happened and every
frame validated. Every process started here is stopped on exit, also on
Ctrl-C or an error. The tap is kept in build/demo/tap.jsonl and the pairing in
build/demo/pairing.json, so the run can be replayed with
`python -m ephkey_host sniff --tap-file build/demo/tap.jsonl --pairing build/demo/pairing.json`;
the line is also written as a pcapng capture, build/demo/capture.pcapng, as
`ephkey sniff --pcapng` writes it (ephkey_host.pcapng), for Wireshark with
tools/wireshark/ephkey.lua.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
sys.path.insert(0, str(TOOLS))
try:
    import ephkey_host  # noqa: F401
except ImportError:  # without the venv's .pth: use the checkout
    sys.path.insert(0, str(REPO / "host"))

import deploy  # noqa: E402
import natmod  # noqa: E402
from ephkey_host import link as link_mod, pairing as pairing_mod  # noqa: E402
from ephkey_host.devices import Console, PortError, RemoteError, parse_event  # noqa: E402
from ephkey_host.errors import code_name  # noqa: E402
from ephkey_host.pcapng import LineCapture, PcapngWriter  # noqa: E402
from ephkey_host.peer import HEAD  # noqa: E402
from ephkey_host.sniff import (  # noqa: E402
    HEADER,
    DropRecord,
    FrameRecord,
    Record,
    Sniffer,
    feed_record,
    format_record,
    format_totals,
)
from linksim import LinkSim  # noqa: E402
from vboard import VirtualBoard  # noqa: E402

WORKDIR = REPO / "build" / "demo"
LUA = TOOLS / "wireshark" / "ephkey.lua"
BOARD = "unix"
EMU_BOARD = "qemu_mps2_an385"


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0


class WirePrinter:
    """Prints sniffer records, eliding the middle of long runs of valid DATA frames."""

    def __init__(self, show: int) -> None:
        self.show = show
        self.shown_since = 0  # DATA frames printed since the last other frame
        self.elided = 0
        self.tail: deque[FrameRecord] = deque(maxlen=show)

    def _flush_tail(self) -> None:
        if self.elided:
            print("%10s  ... %d DATA frames, all valid ..." % ("", self.elided), flush=True)
        for rec in self.tail:
            print(format_record(rec), flush=True)
        self.elided = 0
        self.tail.clear()

    def add(self, rec: Record) -> None:
        if isinstance(rec, FrameRecord) and rec.ok and not rec.crossed and \
                rec.type_name == "DATA":
            if self.shown_since < self.show:
                self.shown_since += 1
                print(format_record(rec), flush=True)
                return
            if len(self.tail) == self.show:
                self.elided += 1
            self.tail.append(rec)
            return
        self._flush_tail()
        if not isinstance(rec, DropRecord):
            self.shown_since = 0
        print(format_record(rec), flush=True)

    def close(self) -> None:
        self._flush_tail()


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _say(clock: Clock, text: str) -> None:
    print("[%5.1f s] %s" % (clock(), text), flush=True)


def _board_event(clock: Clock, who: str, ev: dict[str, Any]) -> None:
    kind = ev.get("ev", "?")
    if kind in ("data", "stats", "summary"):
        return
    ev = dict(ev)
    if "arg" in ev:  # the first station's EchoApp logs the event's argument as is
        arg = ev.pop("arg")
        if kind == "rotated":
            ev["key"] = arg
        elif kind in ("closed", "handshake_failed", "peer_error") and isinstance(arg, int):
            ev["reason"] = code_name(arg)
    detail = " ".join("%s=%s" % (k, v) for k, v in ev.items() if k not in ("ev", "role"))
    print("%10s  [%s board] %s %s" % ("", who, kind, detail), flush=True)


def _install(board: VirtualBoard, doc: dict[str, Any], pair_doc: dict[str, Any], source: bool,
             clock: Clock, who: str) -> None:
    pairing_mod.install_on_board(board.url, pair_doc)
    deploy.deploy(board.url, doc, source=source, reset=False,
                  log=lambda line: _say(clock, "%s: %s" % (who, line)))


class _EmuConsole:
    """An emulated board's event lines, read like a Console's: its console
    carries the link, so they come from its debug output (emu.debug)."""

    def __init__(self, board: Any) -> None:
        self.board = board
        self.lines_seen: list[str] = []

    def soft_reset(self) -> None:
        self.board.start()  # power on: main.py runs

    def poll(self) -> list[str]:
        lines: list[str] = self.board.debug_lines()
        if not lines:
            time.sleep(0.05)  # as a Console's read timeout
        self.lines_seen += lines
        return lines

    def close(self) -> None:
        pass


def _install_emu(board: Any, doc: dict[str, Any], pair_doc: dict[str, Any], source: bool,
                 clock: Clock, who: str) -> None:
    files = board.folder.parent / (board.folder.name + "-files")
    shutil.rmtree(files, ignore_errors=True)
    deploy.install_to_folder(files, doc, source=source,
                             log=lambda line: _say(clock, "%s: %s" % (who, line)))
    pairing_mod.write_private(files / pairing_mod.FILENAME, pairing_mod.dumps(pair_doc))
    board.load(files)
    _say(clock, "%s: flash %s written from %s" % (who, _rel(board.flash), _rel(files)))


class _Job:
    """A function run in a daemon thread; result() re-raises its exception."""

    def __init__(self, fn: Callable[..., None], *args: Any) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as e:  # handed to the main thread
            self.error = e

    def result(self) -> None:
        while self.thread.is_alive():
            self.thread.join(0.1)  # short waits: Ctrl-C is handled promptly
        if self.error is not None:
            raise self.error


def board_docs(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two board files, checked; raises deploy.DeployError on a bad option."""
    if args.messages < 0:
        raise deploy.DeployError("--messages must be >= 0")
    if args.timeout <= 0 or args.show < 0:
        raise deploy.DeployError("--timeout must be > 0 and --show >= 0")
    base = deploy.load_board(EMU_BOARD if args.emu else BOARD)
    doc_f = deploy.board_file(base, "first", overrides={
        "first": {"rotate_frames": args.rotate_frames, "idrks": args.idrks,
                  "suites": [args.suite]}})
    doc_s = deploy.board_file(base, "second", args.messages, overrides={
        "second": {"offer": [args.suite]}, "app": {"size": args.size}})
    max_payload = doc_s["second"].get("max_payload", 256)
    if not HEAD <= args.size <= max_payload:
        # the same bounds as `peer --size`: a payload carries a 4-byte number
        raise deploy.DeployError("--size must be %d..%d (max_payload), not %d"
                                 % (HEAD, max_payload, args.size))
    return doc_f, doc_s


def run(args: argparse.Namespace, docs: tuple[dict[str, Any], dict[str, Any]]) -> int:
    clock = Clock()
    work = Path(args.workdir)
    for sub in ("first", "second"):
        shutil.rmtree(work / sub, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    taps: queue.Queue[tuple[float, str, bytes]] = queue.Queue()
    sim = LinkSim(baud=115200, frame="8N1", tap=lambda t, d, b: taps.put((t, d, b)))
    boards: list[Any] = []
    consoles: list[Any] = []
    tap_file = open(work / "tap.jsonl", "w", encoding="utf-8")  # closed in finally
    pcap_file = open(work / "capture.pcapng", "wb")  # closed in finally
    capture: LineCapture | None = None
    try:
        sim.start()
        hello = sim.hello()
        tap_file.write(json.dumps(hello) + "\n")
        capture = LineCapture(PcapngWriter(pcap_file, comment="ephkey make demo"),
                              float(hello["byte_us"]))
        _say(clock, "link: linksim %d baud %s, side A 127.0.0.1:%d (first station's UART), "
             "side B 127.0.0.1:%d (second station's UART), tap in process"
             % (sim.baud, sim.frame, sim.port_a, sim.port_b))
        first: Any  # an EmuBoard or a VirtualBoard
        second: Any
        if args.emu:
            from emuboard import EmuBoard

            first = EmuBoard(work / "first", connect=("127.0.0.1", sim.port_a),
                             name="demo-first")
            boards.append(first)
            second = EmuBoard(work / "second", connect=("127.0.0.1", sim.port_b),
                              name="demo-second")
            boards.append(second)
            _say(clock, "boards: two emulated Cortex-M3 boards (QEMU mps2-an385), each "
                 "console wired to its side of the link; flash %s and %s"
                 % (_rel(first.flash), _rel(second.flash)))
        else:
            first = VirtualBoard(work / "first", uart_port=sim.port_a, name="demo-first").start()
            boards.append(first)
            second = VirtualBoard(work / "second", uart_port=sim.port_b,
                                  name="demo-second").start()
            boards.append(second)
            for b in boards:
                if not b.wait_ready(15):
                    raise RemoteError("virtual board %s did not come up: %r"
                                      % (b.name, b.output_tail()[-500:]))
            _say(clock, "boards: first station %s (flash %s), second station %s (flash %s)"
                 % (first.url, _rel(first.flash), second.url, _rel(second.flash)))

        pair = pairing_mod.new_pair()
        pairing_mod.write_private(work / "pairing.json",
                                  json.dumps(pair.pairing().to_json()) + "\n")
        _say(clock, "pair: id_f=%s id_s=%s, pairing secret %d bytes from os.urandom (not shown)"
             % (pair.id_f.hex(), pair.id_s.hex(), len(pair.ps)))
        doc_f, doc_s = docs
        if not args.source:
            deploy.compile_package(doc_f["arch"], log=lambda line: _say(clock, line))
        # The native X25519 once, here: the two deploys below run at once and would
        # both build it in the same folder (one failed and fell back to viper code).
        natmod.for_board(doc_f["arch"], log=lambda line: _say(clock, line))
        if args.emu:
            _say(clock, "deploy: pairing files and firmware into both boards' flash (what "
                 "tools/deploy.py --dir writes; over the console it is mpremote's job)")
            _install_emu(first, doc_f, pair.station_doc("first"), args.source, clock, "first")
            _install_emu(second, doc_s, pair.station_doc("second"), args.source, clock,
                         "second")
        else:
            _say(clock, "deploy: pairing files and firmware onto both boards with mpremote "
                 "(as tools/deploy.py does for real boards)")
            # Both boards at once, in daemon threads: on Ctrl-C nothing waits for them (the
            # boards are stopped below, which ends their mpremote connections).
            jobs = [_Job(_install, first, doc_f, pair.station_doc("first"), args.source, clock,
                         "first"),
                    _Job(_install, second, doc_s, pair.station_doc("second"), args.source,
                         clock, "second")]
            for job in jobs:
                job.result()

        sniffer = Sniffer([pair.pairing()], max_payload=doc_s["second"].get("max_payload", 256),
                          byte_us=float(hello["byte_us"]))
        printer = WirePrinter(args.show)
        seen: list[FrameRecord] = []

        def show(rec: Record) -> None:
            if isinstance(rec, FrameRecord):
                seen.append(rec)
            printer.add(rec)

        last_tap = [time.monotonic()]

        def drain() -> None:
            while True:
                try:
                    t_us, d, data = taps.get_nowait()
                except queue.Empty:
                    if time.monotonic() - last_tap[0] > 0.03:  # the line is idle
                        for rec in sniffer.flush():
                            show(rec)
                        assert capture is not None
                        capture.idle()
                    return
                last_tap[0] = time.monotonic()
                tap_rec = {"type": "data", "t_us": round(t_us, 3), "dir": d, "hex": data.hex()}
                tap_file.write(json.dumps(tap_rec) + "\n")
                # the sniffer and the capture, as `ephkey sniff --pcapng` feeds them
                for rec in feed_record(sniffer, tap_rec, capture):
                    show(rec)

        if args.emu:
            con_f: Any = _EmuConsole(first)
            con_s: Any = _EmuConsole(second)
        else:
            con_f = Console(first.url)
            con_s = Console(second.url)
        consoles += [con_f, con_s]
        _say(clock, "reset: first station (%s: main.py starts)"
             % ("power on" if args.emu else "Ctrl-D at its REPL"))
        con_f.soft_reset()
        up = False
        deadline = time.monotonic() + 15
        while not up and time.monotonic() < deadline:
            for line in con_f.poll():
                ev = parse_event(line)
                if ev:
                    _board_event(clock, "first", ev)
                    up = up or ev.get("ev") == "up"
                    if ev.get("ev") == "stopped":
                        raise RemoteError("first station stopped: %s" % ev.get("reason"))
        if not up:
            raise RemoteError("first station did not start:\n" + "\n".join(con_f.lines_seen[-20:]))
        _say(clock, "reset: second station (%s); the wire, as the sniffer decodes and "
             "validates it with the pairing:" % ("power on" if args.emu else "Ctrl-D"))
        print(HEADER, flush=True)
        t_reset = clock()
        con_s.soft_reset()
        summary: dict[str, Any] | None = None
        deadline = time.monotonic() + args.timeout
        while summary is None and time.monotonic() < deadline:
            for con, who in ((con_s, "second"), (con_f, "first")):
                for line in con.poll():
                    ev = parse_event(line)
                    if ev is None:
                        continue
                    _board_event(clock, who, ev)
                    if who == "second" and ev.get("ev") == "summary":
                        summary = ev
                    if ev.get("ev") == "stopped":
                        raise RemoteError("%s station stopped: %s" % (who, ev.get("reason")))
            drain()
        end = time.monotonic() + 0.5  # the last frames (CLOSE) still on the wire
        while time.monotonic() < end:
            con_f.poll()
            drain()
        for rec in sniffer.flush():
            show(rec)
        printer.close()
        run_s = clock() - t_reset
        capture.close()
        return _report(args, clock, sim, sniffer, summary, run_s, consoles, seen,
                       capture.packets)
    finally:
        for con in consoles:
            con.close()
        for b in boards:
            b.stop()
        sim.stop()
        tap_file.close()
        if capture is not None:
            capture.close()
        pcap_file.close()


def _bytes_out_check(sniffer: Sniffer, seen: list[FrameRecord], summary: dict[str, Any]
                     ) -> tuple[str, bool]:
    """The second station's bytes_out against the sniffer's count of its direction.

    The station prints its summary when its exchange ends, after queueing its
    CLOSE but before that CLOSE is written: its ``frames_out`` and
    ``bytes_out`` leave it out, the wire does not. The frames it sent after its
    first ``frames_out`` ones, re-encoded by the link layer, make up the
    difference exactly, or something else is wrong. (line, matches)"""
    s_dir = sniffer.s_dir or "BA"
    arrow = "%s->%s" % (s_dir[0], s_dir[1])
    wire_bytes = sniffer.totals.bytes[s_dir]
    counted = int(summary.get("bytes_out", 0))
    ours = [r.raw for r in seen if r.direction == s_dir]
    later = ours[int(summary.get("frames_out", len(ours))):]
    later_bytes = sum(len(link_mod.encode_frame(f)) for f in later)
    names = " and ".join(sorted({r.type_name for r in seen if r.direction == s_dir
                                 and r.raw in later})) or "nothing"
    if counted + later_bytes == wire_bytes:
        if not later:
            return "bytes: %s %d on the wire, as the second station counted" % (
                arrow, wire_bytes), True
        return ("bytes: %s %d on the wire = %d the second station counted (bytes_out, at its "
                "summary) + %d of its %s, sent after its summary (%d frame%s)"
                % (arrow, wire_bytes, counted, later_bytes, names, len(later),
                   "" if len(later) == 1 else "s")), True
    return ("bytes: %s %d on the wire, but the second station counted %d (bytes_out) and "
            "sent %d bytes of frames after its summary" % (arrow, wire_bytes, counted,
                                                            later_bytes)), False


def _report(args: argparse.Namespace, clock: Clock, sim: LinkSim, sniffer: Sniffer,
            summary: dict[str, Any] | None, run_s: float, consoles: list[Console],
            seen: list[FrameRecord], packets: int) -> int:
    tot = sniffer.totals
    stats = sim.stats()
    print("", flush=True)
    print("== summary", flush=True)
    for line in format_totals(tot):
        print("sniffer: " + line, flush=True)
    print("link: A->B %d bytes, B->A %d bytes delivered (%d + %d lost) at %d baud %s"
          % (stats["AB"]["delivered"], stats["BA"]["delivered"], stats["AB"]["lost"],
             stats["BA"]["lost"], sim.baud, sim.frame), flush=True)
    sessions = tot.sessions
    wire_hs = sessions[0].handshake_ms if sessions else None
    rotations_wire = tot.rotations
    problems = []
    if summary is None:
        problems.append("the second station printed no summary within %.0f s" % args.timeout)
        for con, who in zip(consoles, ("first", "second"), strict=False):
            print("-- %s board console (last lines):" % who, flush=True)
            for line in con.lines_seen[-15:]:
                print("   " + line, flush=True)
    else:
        print("second station: EPHKEY " + json.dumps(summary), flush=True)
        print("handshake: %d ms at the second station (connect -> KEY accepted)%s"
              % (summary.get("handshake_ms", -1),
                 ", %.1f ms on the wire (REQ -> KEY)" % wire_hs if wire_hs is not None else ""),
              flush=True)
        print("exchange: %d messages of %d bytes echoed, %d rotation(s) (second station), "
              "%d key change(s) seen on the wire, in %.1f s"
              % (summary.get("messages", 0), args.size, summary.get("rotations", 0),
                 rotations_wire, run_s), flush=True)
        line, matches = _bytes_out_check(sniffer, seen, summary)
        print(line, flush=True)
        if not matches and "bytes_out" in summary:
            problems.append("the second station's byte count does not match the wire")
        if not summary.get("ok"):
            problems.append("the second station's exchange failed (ok=false)")
        if summary.get("rotations", 0) < 2 or rotations_wire < 2:
            problems.append("fewer than 2 key rotations")
    if tot.frames == 0:
        problems.append("no frame seen on the wire")
    if not tot.clean:
        problems.append("%d frame(s) failed validation, %d link drop(s)" % (tot.bad, tot.dropped))
    if tot.structure_only and args.suite == 1:
        problems.append("%d frame(s) could not be checked cryptographically" % tot.structure_only)
    pcap = Path(args.workdir) / "capture.pcapng"
    if problems:
        print("demo: FAILED: " + "; ".join(problems), flush=True)
        print("capture: %s (%d packets)" % (_rel(pcap), packets), flush=True)
        return 1
    how = ("tags, unwraps and SPV checked with the pairing" if not tot.structure_only else
           "suite 2: keyed checks need DH, which the pairing alone cannot give; "
           "structure checked")
    print("demo: OK: session completed, %d rotations, all %d frames valid (%s); %.1f s in all"
          % (summary.get("rotations", 0) if summary else 0, tot.frames, how, clock()), flush=True)
    print("replay: python -m ephkey_host sniff --tap-file %s --pairing %s"
          % (_rel(Path(args.workdir) / "tap.jsonl"), _rel(Path(args.workdir) / "pairing.json")),
          flush=True)
    print("wireshark: %s (%d packets, one per link-layer segment), open it with the dissector: "
          "wireshark -X lua_script:%s %s" % (_rel(pcap), packets, _rel(LUA), _rel(pcap)),
          flush=True)
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/demo.py",
        description="Two virtual boards, paired and deployed with mpremote, establish a session "
        "over a simulated 115200 8N1 UART; a sniffer shows and validates the wire.")
    parser.add_argument("--messages", type=int, default=100, help="echoes (100)")
    parser.add_argument("--size", type=int, default=32, help="payload bytes (32)")
    parser.add_argument("--rotate-frames", type=int, default=48,
                        help="DATA frames per key at the first station (48)")
    parser.add_argument("--idrks", type=int, default=8, help="IDRKs per session (8)")
    parser.add_argument("--show", type=int, default=3,
                        help="DATA frames shown after and before each other frame (3)")
    parser.add_argument("--suite", type=int, choices=(1, 2), default=1,
                        help="cipher suite (1: the sniffer can check every tag with the "
                        "pairing; 2: forward secrecy, so it can check only the structure "
                        "and the SRK frame's auth)")
    parser.add_argument("--source", action="store_true", help="deploy .py instead of .mpy")
    parser.add_argument("--emu", action="store_true",
                        help="two emulated Cortex-M3 boards (make emu) instead of virtual ones")
    parser.add_argument("--timeout", type=float, default=40, help="for the exchange, seconds (40)")
    parser.add_argument("--workdir", default=str(WORKDIR.relative_to(REPO)),
                        help="flash folders, tap and pairing (build/demo)")
    args = parser.parse_args(argv)
    if not Path(args.workdir).is_absolute():
        args.workdir = str(REPO / args.workdir)
    try:  # every option is checked before anything starts
        docs = board_docs(args)
    except deploy.DeployError as e:
        parser.print_usage(sys.stderr)
        print("demo: %s" % e, file=sys.stderr, flush=True)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args, docs)
    except KeyboardInterrupt:
        print("demo: interrupted; boards and link stopped", file=sys.stderr, flush=True)
        return 130
    except (PortError, RemoteError, deploy.DeployError, FileNotFoundError, OSError) as e:
        print("demo: FAILED: %s" % e, file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
