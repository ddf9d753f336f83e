"""The `ephkey` command (also `python -m ephkey_host`): the host's command line.

    ephkey peer    --role first|second --port DEV_OR_URL --pairing FILE ...
    ephkey sniff   --tap HOST:PORT | --tap-file FILE [--pairing FILE] [--pcapng FILE]
    ephkey pair    --out DIR | --port A --port2 B | --port A --host-as ROLE
    ephkey pair    --code 042917 | --show-code  --port DEV_OR_URL --host-as ROLE
    ephkey vectors [--dir tests/vectors]

Exit codes: 0 success, 1 protocol or session failure (or, for sniff, an
invalid frame or a link drop seen), 2 usage or configuration error, 3 link
or port error. ``ephkey COMMAND --help`` explains each command.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .pcapng import LineCapture
    from .sniff import Sniffer

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LINK = 3

def default_vectors_dir() -> Path:
    """tests/vectors of the checkout this package runs from, else of the working
    directory (an installed package carries no vectors: give --dir)."""
    checkout = Path(__file__).resolve().parents[2] / "tests" / "vectors"
    return checkout if checkout.is_dir() else Path("tests") / "vectors"


class UsageFailure(Exception):
    """A usage or configuration error: exit code 2."""


def _out(text: str = "", file: TextIO | None = None) -> None:
    print(text, file=file or sys.stdout, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- peer ------------------------------------------------------------------------

PEER_HELP = """\
Act as one station of a pair against a board, over a serial link (a
USB-serial adapter wired to the board's UART pins, or a pyserial URL such as
socket://127.0.0.1:7002 for a virtual board behind tools/linksim.py), or over
BLE with --ble NAME.

As second station (--role second) the host opens a session, sends --messages
payloads of --size bytes (numbered like the firmware's ExchangeApp), checks
each echo, reconnects if the session ends early (e.g. KEYS_EXHAUSTED), closes
it and prints a summary (the fields of the firmware's summary line). As first
station (--role first) it echoes every payload, like the firmware's EchoApp,
until --sessions sessions were closed normally by the board (0: until
--timeout or Ctrl-C).

--pairing is this host's ephkey_pairing.json (made by `pair --host-as`).

Suite 3 (the user's secret, docs/protocol.md 15.10): when the host's record
says "user", the host as second station needs the secret the first station's
record holds: --secret-stdin reads it from standard input (one line; e.g. from
a password manager's pipe), --user-secret SECRET takes it from the command
line, where other users of the machine can read it (ps, /proc) and the shell
keeps it in its history: use that for tests only. A wrong secret ends with
WRONG_CODE (F counts it: ten in a row make both stations back off).
Station settings are the spec's defaults, or the role's section of --board
(a board.json), changed with --set KEY=VALUE (e.g. --set rotate_frames=16).

BLE: the host is the central and connects to a first-station board that
advertises the Nordic UART Service under NAME (board.json "ble": {"name"}), so
--ble implies --role second. The host as BLE peripheral (a second-station
board connecting to the host) is out of scope.
"""


def setting_names(role: str) -> list[str]:
    """The station settings a role takes (docs/protocol.md section 11)."""
    from dataclasses import fields

    from .config import FirstConfig, SecondConfig

    cls: Any = FirstConfig if role == "first" else SecondConfig
    return [f.name for f in fields(cls)]


def _settings(args: argparse.Namespace, role: str) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.board:
        try:
            doc = json.loads(Path(args.board).read_text())
        except (OSError, ValueError) as e:
            raise UsageFailure(f"--board {args.board}: {e}") from None
        settings.update(doc.get(role, {}))
    names = setting_names(role)
    other = "second" if role == "first" else "first"
    for item in args.set:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise UsageFailure(f"--set {item!r}: expected KEY=VALUE, e.g. "
                               f"{names[0]}={getattr(_defaults(role), names[0])}")
        if key not in names:
            hint = (f" ({key} is a {other} station setting: the host is the {role} station)"
                    if key in setting_names(other) else "")
            raise UsageFailure(f"--set {key}: not a {role} station setting{hint}; "
                               f"valid keys: {', '.join(names)}")
        try:
            settings[key] = json.loads(text)
        except ValueError:
            settings[key] = text
    for key in settings:
        if key not in names:
            raise UsageFailure(f"--board {args.board}: {role}.{key} is not a {role} station "
                               f"setting; valid keys: {', '.join(names)}")
    return settings


def _defaults(role: str) -> Any:
    from .config import FirstConfig, SecondConfig

    return FirstConfig() if role == "first" else SecondConfig()


def cmd_peer(args: argparse.Namespace) -> int:
    from .pairing import PairingFileError, load_station_file
    from .peer import (
        HEAD,
        BleTransport,
        EchoApp,
        ExchangeApp,
        LinkError,
        Peer,
        SerialTransport,
        make_station,
        max_frame_for,
    )

    role = args.role or ("second" if args.ble else None)
    if role is None:
        raise UsageFailure("peer: --role first|second is required")
    secret = _peer_secret(args, role)
    if args.ble and role != "second":
        raise UsageFailure("peer --ble: the host is the BLE central, so it can only be the "
                           "second station (host as BLE peripheral is out of scope)")
    if bool(args.port) == bool(args.ble):
        raise UsageFailure("peer: give exactly one of --port DEV_OR_URL and --ble NAME")
    if args.messages < 0 or args.size < HEAD:
        raise UsageFailure(f"peer: --messages must be >= 0 and --size >= {HEAD} "
                           "(a payload starts with its 4-byte number)")
    try:
        pairings = load_station_file(args.pairing, role)
    except PairingFileError as e:
        raise UsageFailure(str(e)) from None
    if role == "second" and pairings[0].is_user != (secret is not None):
        raise UsageFailure("peer: the pairing record is for suite 3 (\"user\"): give the "
                           "user's secret with --secret-stdin" if secret is None else
                           "peer: a secret is for a suite-3 (\"user\") record; this one "
                           "holds a pairing secret")
    settings = _settings(args, role)
    try:
        station = make_station(role, settings, pairings)
    except ValueError as e:  # a value out of range: the config names it
        raise UsageFailure(f"{role} station settings: {e}") from None
    max_payload = settings.get("max_payload", 256)
    if role == "second" and args.size > max_payload:
        raise UsageFailure(f"--size {args.size} is above max_payload {max_payload}")
    app: EchoApp | ExchangeApp
    if role == "second":
        app = ExchangeApp(args.messages, args.size, echo_timeout_ms=args.echo_timeout_ms,
                          secret=secret)
    else:
        app = EchoApp(args.sessions)
    where = args.port or f"BLE {args.ble}"
    mf = max_frame_for(max_payload)
    try:
        transport = (SerialTransport(args.port, args.baud, mf) if args.port
                     else BleTransport(args.ble, mf))
    except LinkError as e:
        _err(f"peer: {e}")
        return EXIT_LINK
    ids = ", ".join(f"id_f={p.id_f.hex()} id_s={p.id_s.hex()}" for p in pairings)
    if not args.json:
        _out(f"peer: host is the {role} station on {where} ({ids})")

    def log(rec: dict[str, Any]) -> None:
        if args.json:
            _out("EPHKEY " + json.dumps({"role": role, **rec}))
        elif rec["ev"] != "data" or args.verbose:
            detail = " ".join(f"{k}={v}" for k, v in rec.items() if k not in ("ev",))
            _out(f"[{peer.now():7d} ms] {rec['ev'].upper():<16} {detail}")

    peer = Peer(station, transport, app, log)
    try:
        summary = peer.run(args.timeout)
    except LinkError as e:
        _err(f"peer: {e}")
        return EXIT_LINK
    except KeyboardInterrupt:
        summary = app.summary(peer)
        summary["ok"] = False
        summary["interrupted"] = True
    finally:
        transport.close()
    if args.json:
        _out("EPHKEY " + json.dumps({"ev": "summary", **summary}))
    else:
        _out("summary: " + json.dumps(summary))
        if summary.get("timeout"):
            _out(f"peer: timed out after {args.timeout} s")
    if summary.get("hint"):
        _err("peer: " + summary["hint"])
        _out("peer: " + ("OK" if summary["ok"] else "FAILED"))
    return EXIT_OK if summary["ok"] else EXIT_FAILED


def _peer_secret(args: argparse.Namespace, role: str) -> bytes | None:
    """Suite 3: the user's secret from stdin or the command line (15.10)."""
    from .config import user_secret

    if args.secret_stdin and args.user_secret is not None:
        raise UsageFailure("peer: give --secret-stdin or --user-secret, not both")
    if not args.secret_stdin and args.user_secret is None:
        return None
    if role != "second":
        raise UsageFailure("peer: the user's secret is given at the second station; the "
                           "first station's record holds it (pair --user-secret-stdin)")
    if args.user_secret is not None:
        _err("peer: warning: --user-secret puts the secret where other users can read "
             "it (ps, /proc) and into your shell's history; prefer --secret-stdin")
        text = args.user_secret
    else:
        text = sys.stdin.readline().rstrip("\r\n")
    try:
        return user_secret(text)
    except ValueError as e:
        raise UsageFailure(f"peer: {e}") from None


# -- sniff -----------------------------------------------------------------------

SNIFF_HELP = """\
Protocol analyser for tools/linksim.py's tap: --tap HOST:PORT (live, its
JSON-lines TCP tap) or --tap-file FILE (recorded JSON lines; - for stdin).
Reassembles each direction's byte stream, deframes it with the host link
decoder and prints one line per frame: time (ms), direction (A->B / B->A,
with the roles once a typed frame showed them), type, key fields and a
verdict. Structure is always checked; with --pairing (either station's
ephkey_pairing.json, or {"id_f","id_s","ps"}) every session is also
validated cryptographically (tags, unwraps, SPV, key-index progression):
`ok`, or the error code and the field at fault. Segments the link layer
drops (CRC, COBS, runts, too long) are printed and counted. Ends with
totals when the tap closes, the file ends, or on Ctrl-C.

--pcapng FILE also writes what the tap saw as a pcapng capture for
Wireshark: one packet per link-layer segment as it was on the wire
(delimiters, COBS, CRC; corrupted ones too), timestamped with the tap's
times, one interface per direction (A->B, B->A), link type USER0 (147).
Open it with the dissector tools/wireshark/ephkey.lua:
  wireshark -X lua_script:tools/wireshark/ephkey.lua FILE

Exit code 0 if every frame was valid and nothing was dropped, 1 otherwise.
"""


def _tap_lines_tcp(spec: str, idle_s: float = 0.2) -> Iterator[bytes | None]:
    """Lines of the TCP tap; None after ``idle_s`` without data (time to flush)."""
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageFailure(f"--tap {spec!r}: expected HOST:PORT")
    try:
        sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=10)
    except OSError as e:
        raise ConnectionError(f"cannot connect to the tap at {spec}: {e.strerror or e}") from None
    buf = b""
    with sock:
        sock.settimeout(idle_s)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                yield None
                continue
            except OSError as e:
                raise ConnectionError(f"tap at {spec}: {e.strerror or e}") from None
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            yield from lines
    if buf.strip():
        yield buf


def _tap_lines_file(path: str) -> Iterator[str]:
    """The file's lines; opened now, so a missing file is reported before anything
    (a --pcapng file) is created."""
    if path == "-":
        return iter(sys.stdin)
    try:
        f = open(path, encoding="utf-8")  # closed by _lines_of at the end
    except OSError as e:
        raise UsageFailure(f"--tap-file {path}: {e.strerror}") from None
    return _lines_of(f)


def _lines_of(f: TextIO) -> Iterator[str]:
    with f:
        yield from f


def cmd_sniff(args: argparse.Namespace) -> int:
    from .pairing import PairingFileError, load_any
    from .sniff import Sniffer

    if bool(args.tap) == bool(args.tap_file):
        raise UsageFailure("sniff: give exactly one of --tap HOST:PORT and --tap-file FILE")
    pairings = None
    if args.pairing:
        try:
            pairings = load_any(args.pairing)
        except PairingFileError as e:
            raise UsageFailure(str(e)) from None
    sniffer = Sniffer(pairings, max_payload=args.max_payload)
    lines: Iterable[str | bytes | None] = (_tap_lines_tcp(args.tap) if args.tap
                                           else _tap_lines_file(args.tap_file))
    capture, pcap_file = None, None
    if args.pcapng:
        from .pcapng import LineCapture, PcapngWriter
        try:
            pcap_file = open(args.pcapng, "wb")  # closed below
        except OSError as e:
            raise UsageFailure(f"sniff: --pcapng {args.pcapng}: {e.strerror}") from None
        source = args.tap or args.tap_file
        capture = LineCapture(PcapngWriter(pcap_file, comment=f"ephkey sniff of {source}"),
                              sniffer.byte_us)
    try:
        return _sniff_lines(args, sniffer, lines, capture)
    finally:
        if capture is not None and pcap_file is not None:
            capture.close()
            pcap_file.close()
            _err(f"sniff: {capture.packets} packets written to {args.pcapng}")


def _sniff_lines(args: argparse.Namespace, sniffer: Sniffer,
                 lines: Iterable[str | bytes | None], capture: LineCapture | None) -> int:
    from .sniff import HEADER, feed_record, format_record, format_totals, read_tap_lines

    def show(records: Iterable[Any]) -> None:
        for r in records:
            if not args.quiet or not getattr(r, "ok", False):
                _out(format_record(r))

    _out(HEADER)
    n = 0
    try:
        for line in lines:
            if line is None:  # the live line is idle: print what was held back
                show(sniffer.flush())
                if capture is not None:
                    capture.idle()
                continue
            n += 1
            for rec in read_tap_lines([line]):
                show(feed_record(sniffer, rec, capture))
    except ConnectionError as e:
        _err(f"sniff: {e}")
        return EXIT_LINK
    except (ValueError, KeyError) as e:
        raise UsageFailure(f"sniff: bad tap input at line {n}: {e}") from None
    except KeyboardInterrupt:
        pass
    show(sniffer.flush())
    for line in format_totals(sniffer.totals):
        _out(line)
    return EXIT_OK if sniffer.totals.clean else EXIT_FAILED


# -- pair ------------------------------------------------------------------------

PAIR_HELP = """\
Make pairing material for two stations (docs/protocol.md section 8): a
32-byte pairing secret from os.urandom and two 8-byte identities (--ids
ID_F ID_S in hex, else random), written as each station's
ephkey_pairing.json ({"format": 1, "self", "peers": [{"id", "ps"}]}, mode
0600). The secret is never printed.

  --out DIR                   DIR/first/ephkey_pairing.json and
                              DIR/second/ephkey_pairing.json
  --port A --port2 B          onto two boards with mpremote: A is the first
                              station, B the second (add --out DIR to keep
                              local copies, e.g. for `sniff --pairing`)
  --port A --host-as second   pair this host with one board: the board (A)
                              gets the first station's file, the host's own
                              file goes to --host-file (--host-as first: the
                              other way round)

A board keeps one pairing file: pairing it again replaces its pairing.

  --user-secret-stdin         suite 3 (the user's secret, section 15.10): read
                              the user's secret (8 to 64 bytes, one line) from
                              stdin and write "user" records instead of a
                              pairing secret: the first station's record holds
                              the secret, the second station's only "user":
                              true (its user types the secret at each connect,
                              e.g. `peer --secret-stdin`). Works with --out,
                              --port/--port2 and --host-as.

Device pairing with a code (docs/protocol.md section 15): the host pairs
with a board over the protocol link itself, no file copied to the board:

  --code 042917 --port DEV --host-as second
                              arm the host for --window seconds (120) and
                              run CPace with the code over DEV (a USB-serial
                              adapter on the board's UART, or a pyserial URL
                              such as socket://127.0.0.1:7002); the board is
                              armed at its REPL with ephkey.runtime.pair(code)
  --show-code ...             draw the code, print it, then arm: type it on
                              the board (ephkey.runtime.pair("......"))
  --host-as first|second      the host's station role (the board plays the
                              other one)

The new pairing secret (32 bytes from CPace's key) goes into --host-file
(its own identity is kept; as first station the other peers are kept too).
A wrong code ends with exit 1 and WRONG_CODE on both sides. As first
station the host stays armed after a wrong code (the board's user may type
it again) and backs off after 10 failed attempts (30 s, doubling).
"""


def _unwritable(d: Path) -> str:
    """Why files cannot be created in ``d`` (made if missing), or ""."""
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return e.strerror or str(e)
    if not d.is_dir():
        return "not a directory"
    if not os.access(d, os.W_OK | os.X_OK):
        return "permission denied"
    return ""


def cmd_pair(args: argparse.Namespace) -> int:
    from .config import user_secret
    from .devices import PortError, RemoteError
    from .pairing import (
        FILENAME,
        dumps,
        install_on_board,
        new_pair,
        parse_id,
        user_pair_docs,
        write_private,
    )

    if args.code is not None or args.show_code:
        if args.user_secret_stdin:
            raise UsageFailure("pair: --user-secret-stdin writes suite-3 records; device "
                               "pairing (--code) makes a pairing secret")
        return _pair_device(args)
    if args.port2 and not args.port:
        raise UsageFailure("pair: --port2 needs --port (the first station's board)")
    if args.host_as and not args.port:
        raise UsageFailure("pair --host-as: name the board with --port")
    if args.host_as and args.port2:
        raise UsageFailure("pair: --host-as pairs the host with one board; drop --port2")
    if args.port and not args.port2 and not args.host_as:
        raise UsageFailure("pair: with one board give --host-as first|second (or --port2 B)")
    if not args.port and not args.out:
        raise UsageFailure("pair: give --out DIR, or --port A --port2 B, or --port A --host-as")
    try:
        id_f = parse_id(args.ids[0], "ID_F") if args.ids else None
        id_s = parse_id(args.ids[1], "ID_S") if args.ids else None
    except ValueError as e:
        raise UsageFailure(f"pair --ids: {e}") from None
    if id_f is not None and id_f == id_s:
        raise UsageFailure("pair --ids: the two identities must differ")
    # every local destination is checked before anything is written anywhere,
    # so an unwritable place fails before a board was changed
    targets = [Path(args.host_file).parent] if args.host_as else []
    if args.out:
        targets += [Path(args.out) / role for role in ("first", "second")
                    if role != args.host_as]
    for d in targets:
        problem = _unwritable(d)
        if problem:
            raise UsageFailure(f"pair: cannot write pairing files into {d}: {problem}")
    pair = new_pair(id_f, id_s)
    if args.user_secret_stdin:
        try:
            secret = user_secret(sys.stdin.readline().rstrip("\r\n"))
        except ValueError as e:
            raise UsageFailure(f"pair --user-secret-stdin: {e}") from None
        docs = user_pair_docs(pair.id_f, pair.id_s, secret)
        _out(f"pair: first station id_f={pair.id_f.hex()}, second station "
             f"id_s={pair.id_s.hex()}, suite 3: the first station's record holds the user's "
             f"secret ({len(secret)} bytes, not shown), the second station's none")
    else:
        _out(f"pair: first station id_f={pair.id_f.hex()}, second station "
             f"id_s={pair.id_s.hex()}, pairing secret: {len(pair.ps)} bytes from os.urandom "
             "(not shown)")
        docs = {role: pair.station_doc(role) for role in ("first", "second")}
    try:
        if args.port and args.port2:
            for role, port in (("first", args.port), ("second", args.port2)):
                install_on_board(port, docs[role])
                _out(f"pair: {role} station's {FILENAME} -> {port}")
        elif args.host_as:
            board_role = "first" if args.host_as == "second" else "second"
            install_on_board(args.port, docs[board_role])
            _out(f"pair: {board_role} station's {FILENAME} -> {args.port}")
            try:
                path = write_private(args.host_file, dumps(docs[args.host_as]))
            except OSError as e:  # checked above; the disk may still fill up
                _err(f"pair: cannot write {e.filename}: {e.strerror}")
                return EXIT_USAGE
            _out(f"pair: host ({args.host_as} station) file -> {path}")
    except PortError as e:
        _err(f"pair: {e}")
        return EXIT_LINK
    except RemoteError as e:
        _err(f"pair: {e}")
        return EXIT_FAILED
    if args.out:
        for role, doc in docs.items():
            if args.host_as and role == args.host_as:
                continue  # that one is the host's file, already written
            try:
                path = write_private(Path(args.out) / role / FILENAME, dumps(doc))
            except OSError as e:
                _err(f"pair: cannot write {e.filename}: {e.strerror}")
                return EXIT_USAGE
            _out(f"pair: {role} station file -> {path}")
    return EXIT_OK


def _pair_device(args: argparse.Namespace) -> int:
    """``pair --code/--show-code``: device pairing over the link (section 15)."""
    import time

    from . import pair_device as pd
    from .pairing import PairingFileError, dumps, read_doc, write_private
    from .peer import LinkError, SerialTransport

    if args.code is not None and args.show_code:
        raise UsageFailure("pair: give --code CODE or --show-code, not both")
    if not args.port or not args.host_as:
        raise UsageFailure("pair --code: name the link with --port DEV_OR_URL and the "
                           "host's role with --host-as first|second")
    if args.port2 or args.out or args.ids:
        raise UsageFailure("pair --code: --port2, --out and --ids belong to the file modes")
    if not 10 <= args.window <= 600:
        raise UsageFailure("pair --window: seconds, 10..600")
    try:
        code = pd.check_code(args.code) if args.code is not None else None
    except ValueError as e:
        raise UsageFailure("pair --code: %s" % e) from None
    host_file = Path(args.host_file)
    problem = _unwritable(host_file.parent)
    if problem:
        raise UsageFailure(f"pair: cannot write {host_file}: {problem}")
    doc = None
    if host_file.exists():
        try:
            doc = read_doc(host_file)
            self_id = bytes.fromhex(doc["self"])
            if len(self_id) != pd.ID_LEN:
                raise ValueError("self is not 8 bytes")
        except (PairingFileError, KeyError, ValueError, TypeError) as e:
            raise UsageFailure(f"pair: {host_file} is not a usable pairing file ({e}); "
                               "move it away to start afresh") from None
        if args.host_as == "first" and len(doc.get("peers", [])) >= pd.MAX_PEERS:
            raise UsageFailure(f"pair: {host_file} already lists {pd.MAX_PEERS} peers")
    else:
        self_id = os.urandom(pd.ID_LEN)
    initiator = args.host_as == "second"
    if code is None:
        shown = pd.draw_code(os.urandom)
        code = shown.encode()
        _out(f"pair: code {shown}: type it on the other station "
             f"(ephkey.runtime.pair(\"{shown}\") at the board's REPL)")
    try:
        transport = SerialTransport(args.port, args.baud, 64)
    except LinkError as e:
        _err(f"pair: {e}")
        return EXIT_LINK
    t0 = time.monotonic()

    def now() -> int:
        return int((time.monotonic() - t0) * 1000)

    machine = pd.PairingMachine(initiator, self_id, code, os.urandom, now(),
                                args.window * 1000, 1000)
    _out(f"pair: host armed as the {args.host_as} station (id {self_id.hex()}) on "
         f"{args.port} for {args.window} s")
    stored = []

    def on_event(e: Any) -> None:
        what = pd.code_name(e.arg)
        if args.json:
            rec = {"ev": e.name.lower(), "run": e.sid,
                   ("wait_ms" if e.name == pd.BACKOFF_EV else "code"): (
                       e.arg if e.name == pd.BACKOFF_EV else what)}
            _out("EPHKEY " + json.dumps(rec))
        if e.name == pd.PAIRED:
            assert machine.peer_id is not None and machine.ps is not None
            try:
                new = pd.record(doc, initiator, self_id, machine.peer_id, machine.ps)
                path = write_private(host_file, dumps(new))
            except (OSError, ValueError) as err:
                _err(f"pair: paired, but cannot write {host_file}: {err}")
                return
            stored.append(path)
            _out(f"pair: PAIRED with {machine.peer_id.hex()} (host id {self_id.hex()}); "
                 f"pairing secret (32 bytes, not shown) -> {path}")
        elif args.json:
            return
        elif e.name == pd.PAIR_FAILED:
            hint = {pd.WRONG_CODE: ": the codes differ, check the code and try again",
                    pd.TIMEOUT: ": no answer within the window"}.get(e.arg, "")
            _out(f"pair: attempt {e.sid} failed, {what}{hint}")
        elif e.name == pd.BACKOFF_EV:
            _out(f"pair: too many failed attempts: backing off {e.arg // 1000} s")
        elif e.name == pd.DISARMED and e.arg != pd.OK:
            _out(f"pair: disarmed ({what})")
        elif e.name in (pd.ERROR_EV, pd.PEER_ERROR) and args.verbose:
            _out(f"pair: {e.name.lower()} {what} (run {e.sid})")

    try:
        pd.run(machine, transport, on_event, now)
    except LinkError as e:
        _err(f"pair: {e}")
        return EXIT_LINK
    except KeyboardInterrupt:
        _err("pair: interrupted")
        return EXIT_FAILED
    finally:
        transport.close()
    if stored:
        _out("pair: OK")
        return EXIT_OK
    _out("pair: FAILED")
    return EXIT_FAILED


# -- vectors ---------------------------------------------------------------------

def cmd_vectors(args: argparse.Namespace) -> int:
    from .vector_check import check_dir, summary

    try:
        results = check_dir(args.dir)
    except FileNotFoundError as e:
        raise UsageFailure(f"vectors: {e}") from None
    if not results:
        raise UsageFailure(f"vectors: no *.json files in {args.dir}")
    width = max(len(r.name) for r in results)
    for r in results:
        if r.skipped:
            _out(f"SKIP  {r.name:<{width}}  (not a known vector file)")
            continue
        verdict = "PASS" if r.ok else "FAIL"
        plural = "s" if r.cases != 1 else ""
        _out(f"{verdict}  {r.name:<{width}}  {r.kind:<10} {r.cases} case{plural}")
        for f in r.failures[: args.max_failures]:
            _out(f"      {f}")
        if len(r.failures) > args.max_failures:
            _out(f"      ... {len(r.failures) - args.max_failures} more")
    s = summary(results)
    _out(f"vectors: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped "
         f"({s['files']} files in {args.dir})")
    return EXIT_OK if s["failed"] == 0 else EXIT_FAILED


# -- parser ----------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="ephkey",
        description="ephkey host tools: be a peer of a board, sniff a link, pair stations, "
        "replay the shared vectors.",
        epilog="Exit codes: 0 ok, 1 protocol/session failure, 2 usage/config error, "
        "3 link/port error.",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("peer", help="be one station against a board (serial or BLE)",
                       description=PEER_HELP, formatter_class=fmt)
    p.add_argument("--role", choices=("first", "second"), help="the host's station role")
    p.add_argument("--port", help="serial device or pyserial URL (socket://HOST:PORT)")
    p.add_argument("--ble", metavar="NAME", help="BLE name of a first-station board")
    p.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    p.add_argument("--pairing", required=True, metavar="FILE",
                   help="the host's ephkey_pairing.json")
    p.add_argument("--messages", type=int, default=100, help="second station: echoes (100)")
    p.add_argument("--size", type=int, default=32, help="second station: payload bytes (32)")
    p.add_argument("--echo-timeout-ms", type=int, default=0,
                   help="second station: resend a message whose echo is this late (0: never)")
    p.add_argument("--sessions", type=int, default=1,
                   help="first station: stop after this many normal closes (1; 0: never)")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after S seconds (120)")
    p.add_argument("--board", metavar="FILE", help="take station settings from a board.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one station setting (repeatable)")
    p.add_argument("--json", action="store_true", help="print events as EPHKEY {json} lines")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each DATA event")
    p.add_argument("--secret-stdin", action="store_true",
                   help="suite 3: read the user's secret from stdin (one line)")
    p.add_argument("--user-secret", metavar="SECRET",
                   help="suite 3: the user's secret on the command line (visible in ps: tests)")
    p.set_defaults(func=cmd_peer)

    p = sub.add_parser("sniff", help="decode and check the frames on a linksim tap",
                       description=SNIFF_HELP, formatter_class=fmt)
    p.add_argument("--tap", metavar="HOST:PORT", help="linksim's TCP tap (--tap-port)")
    p.add_argument("--tap-file", metavar="FILE", help="recorded tap JSON lines (- for stdin)")
    p.add_argument("--pairing", metavar="FILE", help="pairing file: full cryptographic checks")
    p.add_argument("--max-payload", type=int, default=256, help="largest DATA payload (256)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and totals")
    p.add_argument("--pcapng", metavar="FILE",
                   help="also write a pcapng capture (tools/wireshark/ephkey.lua dissects it)")
    p.set_defaults(func=cmd_sniff)

    p = sub.add_parser("pair", help="make pairing files, locally or on boards",
                       description=PAIR_HELP, formatter_class=fmt)
    p.add_argument("--out", metavar="DIR", help="write DIR/first/ and DIR/second/ pairing files")
    p.add_argument("--port", metavar="A", help="board of the first station (or the only board)")
    p.add_argument("--port2", metavar="B", help="board of the second station")
    p.add_argument("--ids", nargs=2, metavar=("ID_F", "ID_S"), help="identities, 16 hex digits")
    p.add_argument("--host-as", choices=("first", "second"),
                   help="pair the host, in this role, with the board at --port")
    p.add_argument("--host-file", default="ephkey_host_pairing.json", metavar="FILE",
                   help="where --host-as writes the host's file (ephkey_host_pairing.json)")
    p.add_argument("--code", metavar="CODE",
                   help="device pairing over --port with this 6-digit code (section 15)")
    p.add_argument("--show-code", action="store_true",
                   help="device pairing: draw the code and print it")
    p.add_argument("--user-secret-stdin", action="store_true",
                   help="suite 3: user records, the first station's holding the secret "
                   "read from stdin")
    p.add_argument("--window", type=int, default=120,
                   help="device pairing: seconds the host stays armed (120; 10..600)")
    p.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    p.add_argument("--json", action="store_true", help="device pairing: EPHKEY {json} events")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="device pairing: also print rejected frames")
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("vectors", help="replay the shared test vectors with the host code",
                       description="Replay every tests/vectors/*.json file with the host "
                       "implementation; PASS/FAIL per file. Exit 1 if any file fails.")
    p.add_argument("--dir", default=str(default_vectors_dir()),
                   help="vector folder (default: the checkout's tests/vectors)")
    p.add_argument("--max-failures", type=int, default=5, help="mismatches shown per file")
    p.set_defaults(func=cmd_vectors)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help is 0, a usage error 2
        return int(e.code or 0) if not isinstance(e.code, str) else EXIT_USAGE
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageFailure as e:
        _err(f"{args.command}: {e}" if not str(e).startswith(args.command) else str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
