"""Install the firmware on a board with mpremote.

    python tools/deploy.py --board NAME --port DEV_OR_URL [--source] [--role first|second]
                           [--messages N] [--set SECTION.KEY=VALUE ...] [--no-reset]
    python tools/deploy.py --board NAME --dir FOLDER ...   (the same files into a folder)
    python tools/deploy.py --board NAME --sizes             (bytes per role and transport)

1. Reads ``boards/NAME/board.json`` (``--board auto`` asks the board which it
   is) and applies the overrides: ``--role`` (the board runs that one role),
   ``--messages`` (``app.messages``), ``--set first.rotate_frames=16`` (any
   key of any section) or ``--set transport=ble`` (a top-level key); VALUE
   is JSON, else a string. The result is checked with the host's station
   settings before anything is copied.
2. Picks the modules this board runs: the import closure of the firmware's
   entry point for the board's role(s) and transport, with device pairing's
   modules where its board file allows pairing (tools/closure.py reads the
   firmware's imports), and the native X25519 module ``_ephkey_x25519.mpy``
   (tools/natmod.py, built if needed) instead of the viper ``_x25519_viper``
   and ``_fe25519`` where the board's ``arch`` has one; the Python twins of
   the viper modules (``_hs_py``, ``_ccm_py``, ``_crc_py``) only where that
   ``arch`` has no viper emitter.
3. Compiles them with ``mpy-cross -O3`` for the board's ``arch`` into
   ``build/mpy/<arch>/ephkey/`` (only what changed), unless ``--source``.
   -O3 drops ``assert`` statements (the firmware checks nothing with them:
   tests/host/test_deploy_roles.py) and line numbers.
4. With one mpremote connection (``resume``: no soft reset, which would let
   a running watchdog reset the board mid-copy): removes from the board's
   ``/ephkey`` every file that is not part of this deployment (so a stale ``.py`` cannot shadow
   a new ``.mpy``: MicroPython imports ``x.py`` before ``x.mpy``), and a native
   module this deployment does not ship, copies the package to ``:ephkey/``,
   the native module to ``:``, ``firmware/main.py`` to ``:main.py`` and the
   board file to ``:ephkey_board.json``, then resets the board (hard reset:
   ``main.py`` starts) unless ``--no-reset``.

``--sizes`` prints, without deploying, the .mpy bytes each role and transport
would take on the board's architecture.

The pairing file ``:ephkey_pairing.json`` is not touched: make it with
``python -m ephkey_host pair``. ``make deploy BOARD=... PORT=... [ROLE=...]
[SOURCE=1]`` runs this script. tools/demo.py and the tests call
:func:`deploy` the same way on virtual boards.

Exit codes: 0 done, 1 compile or copy failed, 2 usage or board-file error,
3 the board could not be reached.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    from ephkey_host.devices import PortError, RemoteError, find_tool, mpremote
except ImportError:  # run as a script without the venv's .pth: use the checkout
    sys.path.insert(0, str(REPO / "host"))
    from ephkey_host.devices import PortError, RemoteError, find_tool, mpremote

FIRMWARE = REPO / "firmware"
PACKAGE = FIRMWARE / "ephkey"
BOARDS = REPO / "boards"
BUILD = REPO / "build" / "mpy"
# native modules a deployment may put beside main.py (tools/natmod.py)
NATIVE_FILES = ("_ephkey_x25519.mpy",)

Log = Callable[[str], None]


class DeployError(Exception):
    """Bad board name, board file or override (exit code 2)."""


def board_names() -> list[str]:
    return sorted(p.parent.name for p in BOARDS.glob("*/board.json"))


def load_board(name: str) -> dict[str, Any]:
    path = BOARDS / name / "board.json"
    if not path.is_file():
        raise DeployError(f"no board {name!r}: boards/ has {', '.join(board_names())}")
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except ValueError as e:
        raise DeployError(f"{path.relative_to(REPO)} is not valid JSON: {e}") from None
    return doc


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["first.rotate_frames=16", "transport=ble"]`` -> ``{"first": {...}, "transport": "ble"}``.

    SECTION.KEY=VALUE sets a key of a section (first, second, app, uart, ble,
    tcp); KEY=VALUE a top-level key. VALUE is JSON, else a string.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        section, dot, name = key.partition(".")
        if not eq or not section or (dot and not name):
            raise DeployError(f"--set {item!r}: expected SECTION.KEY=VALUE (e.g. "
                              "first.idrks=8) or KEY=VALUE (e.g. transport=ble)")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if dot:
            if not isinstance(out.setdefault(section, {}), dict):
                raise DeployError(f"--set {item!r}: {section} was set as a value")
            out[section][name] = value
        else:
            out[section] = value
    return out


# The second station's exchange settings the firmware reads from a board
# file's "app" section (firmware/ephkey/exchange_app.py, ExchangeApp.from_board).
APP_KEYS = ("messages", "size", "reconnects", "handshakes", "echo_timeout_ms", "resends",
            "tick_ms", "quiet", "attempts", "interval_ms")


def known_keys() -> dict[str, set[str]]:
    """Keys --set may change: section -> keys ("" holds the top-level keys).

    The schema is what the boards in boards/ use, the station settings of the
    spec (section 11, the host's config classes) and the app's settings.
    """
    from dataclasses import fields

    from ephkey_host.config import FirstConfig, SecondConfig

    keys: dict[str, set[str]] = {"": set(), "first": set(), "second": set(), "app": set(APP_KEYS)}
    for name in board_names():
        for top, value in load_board(name).items():
            keys[""].add(top)
            if isinstance(value, dict):
                keys.setdefault(top, set()).update(value)
    keys["first"] = {f.name for f in fields(FirstConfig)}
    keys["second"] = {f.name for f in fields(SecondConfig)}
    keys[""].update(("first", "second", "app"))
    return keys


def check_set(overrides: dict[str, Any]) -> None:
    """Refuse a --set key that no board uses and no setting names (a typo)."""
    keys = known_keys()
    for section, values in overrides.items():
        if section not in keys[""]:
            raise DeployError(f"--set {section}: not a board-file key; valid: "
                              f"{', '.join(sorted(keys['']))}")
        if isinstance(values, dict):
            valid = keys.get(section)
            if valid is None:
                raise DeployError(f"--set {section}.*: {section} is a value, not a section")
            for k in values:
                if k not in valid:
                    raise DeployError(f"--set {section}.{k}: not a {section} setting; valid: "
                                      f"{', '.join(sorted(valid))}")


def board_file(
    doc: dict[str, Any],
    role: str | None = None,
    messages: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The board file to install: ``doc`` with the overrides applied, checked."""
    out = copy.deepcopy(doc)
    if role is not None:
        if role not in ("first", "second"):
            raise DeployError(f"role {role!r}: first or second")
        out["roles"] = [role]
        out.pop("role", None)
    for section, values in (overrides or {}).items():
        current = out.get(section)
        if isinstance(current, dict) and isinstance(values, dict):
            current.update(values)
        else:
            out[section] = copy.deepcopy(values)
    if messages is not None:
        out.setdefault("app", {})["messages"] = messages
    check_board(out)
    return out


def check_board(doc: dict[str, Any]) -> None:
    """The station settings of each role, checked by the host's rules (spec 4.1, 11)."""
    from ephkey_host.config import FirstConfig, SecondConfig

    roles = doc.get("roles", [doc.get("role")])
    if not roles or any(r not in ("first", "second") for r in roles):
        raise DeployError(f"board {doc.get('name')!r}: roles {roles!r} (first and/or second)")
    if doc.get("transport") not in ("uart", "ble", "tcp", "usb"):
        raise DeployError(f"board {doc.get('name')!r}: transport {doc.get('transport')!r} "
                          "(uart, ble, tcp or usb)")
    if not doc.get("arch"):
        raise DeployError(f"board {doc.get('name')!r} has no 'arch' for mpy-cross")
    for role in roles:
        cls: Any = FirstConfig if role == "first" else SecondConfig
        try:
            cls(**doc.get(role, {}))
        except (TypeError, ValueError) as e:
            raise DeployError(f"board {doc.get('name')!r}, {role} station settings: {e}") from None
    app = doc.get("app", {})
    if not isinstance(app.get("messages", 0), int) or app.get("messages", 0) < 0:
        raise DeployError("app.messages must be an integer >= 0")


def sources(modules: list[str] | None = None) -> list[Path]:
    """firmware/ephkey/*.py, or those of ``modules`` (names without .py)."""
    if modules is None:
        return sorted(PACKAGE.glob("*.py"))
    return [PACKAGE / f"{m}.py" for m in sorted(modules)]


# mpy-cross flags of deployed .mpy files: -O3 leaves out assert statements and
# line numbers (smaller files); build/mpy/<arch>/ephkey/.flags records them.
MPY_FLAGS = ("-O3",)


def compile_package(arch: str, build: Path = BUILD, log: Log | None = None,
                    modules: list[str] | None = None) -> list[Path]:
    """firmware/ephkey/*.py (or ``modules``) -> build/mpy/<arch>/ephkey/*.mpy, only
    what is out of date."""
    tool = find_tool("mpy-cross", "MPY_CROSS")
    out_dir = build / arch / "ephkey"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / ".flags"
    if not stamp.exists() or stamp.read_text() != " ".join(MPY_FLAGS):
        for old in out_dir.glob("*.mpy"):  # compiled with other flags (or by an older tool)
            old.unlink()
        stamp.write_text(" ".join(MPY_FLAGS))
    outputs = []
    compiled = 0
    for src in sources(modules):
        dst = out_dir / (src.stem + ".mpy")
        if not dst.exists() or dst.stat().st_mtime < src.stat().st_mtime:
            proc = subprocess.run(
                [*tool, *MPY_FLAGS, f"-march={arch}", "-s", f"ephkey/{src.name}", "-o", str(dst),
                 str(src)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise RemoteError(f"mpy-cross -march={arch} {src.name}: {proc.stderr.strip()}")
            compiled += 1
        outputs.append(dst)
    if log:
        log(f"mpy-cross: {len(outputs)} modules for {arch} in {out_dir.relative_to(REPO)}"
            f" ({compiled} compiled)")
    return outputs


class Selection:
    """What one deployment ships: the package's files and the native modules."""

    def __init__(self, files: list[Path], native: list[Path], modules: list[str]) -> None:
        self.files = files
        self.native = native
        self.modules = modules

    @property
    def bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files + self.native)


def pairing_enabled(doc: dict[str, Any]) -> bool:
    return bool(doc.get("pairing", {}).get("enabled", True))


def select(doc: dict[str, Any], *, source: bool = False, log: Log | None = None,
           native: bool = True) -> Selection:
    """The files a board with this board file runs (closure.py), compiled unless
    ``source``; the native X25519 for its arch unless ``native`` is False."""
    import closure
    import natmod

    arch = doc["arch"]
    mod = natmod.for_board(arch, log=log or (lambda _line: None)) if native else None
    shipped = [mod] if mod is not None else []
    c = closure.closure(doc["roles"], doc["transport"], pairing=pairing_enabled(doc),
                        native=[p.stem for p in shipped], suites=closure.board_suites(doc),
                        viper=closure.has_viper(arch), port=doc.get("port"))
    files = sources(c.modules) if source else compile_package(arch, log=log, modules=c.modules)
    return Selection(files, [p for p in shipped if p.stem in c.native], c.modules)


def size_table(arch: str, port: str | None = None,
               log: Log = print) -> dict[tuple[str, str, bool], int]:
    """.mpy bytes per (role, transport, pairing) on arch (for a board of this
    MicroPython port: None, code for any), native X25519 where it builds;
    logs a table."""
    import closure

    base = {"arch": arch, "port": port, "pairing": {"enabled": True}}
    out: dict[tuple[str, str, bool], int] = {}
    for pairing in (False, True):
        for role in closure.ROLES:
            for transport in closure.TRANSPORTS:
                doc = dict(base, roles=[role], transport=transport,
                           pairing={"enabled": pairing})
                out[role, transport, pairing] = select(doc).bytes
    log(f".mpy bytes for {arch}{f' ({port} port)' if port else ''} (mpy-cross "
        f"{' '.join(MPY_FLAGS)}), per role and transport:")
    log("  role    pairing " + "".join(f"{t:>8}" for t in closure.TRANSPORTS))
    for role in closure.ROLES:
        for pairing in (False, True):
            row = "".join(f"{out[role, t, pairing]:>8}" for t in closure.TRANSPORTS)
            log(f"  {role:<7} {'yes' if pairing else 'no':<7} {row}")
    return out


# Runs on the board: keep only the files of this deployment in /ephkey.
_PRUNE = """\
import os
keep = set(%r)
for n in %r:  # native modules this deployment does not ship
    try:
        os.remove(n)
        print('removed ' + n)
    except OSError:
        pass
try:
    os.mkdir('/ephkey')
except OSError:
    pass
for n in os.listdir('/ephkey'):
    if n not in keep:
        try:
            os.remove('/ephkey/' + n)
            print('removed /ephkey/' + n)
        except OSError:
            print('cannot remove /ephkey/' + n)
try:
    os.stat('/ephkey_pairing.json')
    print('paired: yes')
except OSError:
    print('paired: no')
"""


def board_mpremote(port: str, *args: str, timeout: float = 300) -> str:
    """mpremote; if it finds no REPL, once more after the console escape (a board
    whose console carries the link, "transport": "usb", answers only that)."""
    try:
        return mpremote(port, *args, timeout=timeout)
    except PortError as e:
        if "raw repl" not in str(e).lower():
            raise
        from repl_escape import NoRepl, release

        try:
            release(port)
        except NoRepl:
            raise e from None
        return mpremote(port, *args, timeout=timeout)


def detect_board(port: str) -> str:
    """The boards/ name matching what the board says it is (sys.implementation._machine)."""
    out = board_mpremote(port, "exec", "import sys; print(sys.implementation._machine)",
                         timeout=60)
    machine = out.strip().splitlines()[-1] if out.strip() else ""
    for needle, name in (
        ("mps2-an385", "qemu_mps2_an385"),
        ("Pico 2 W", "rpi_pico2_w"),
        ("Pico W", "rpi_pico_w"),
        ("PYBD-SF6", "pybd_sf6"),
        ("ESP32", "esp32"),
        ("linux", "unix"),
    ):
        if needle.lower() in machine.lower():
            return name
    raise DeployError(f"board on {port} says {machine!r}: name it with --board "
                      f"({', '.join(board_names())})")


def deploy(
    port: str,
    doc: dict[str, Any],
    *,
    source: bool = False,
    reset: bool = True,
    log: Log = print,
) -> None:
    """Install the firmware and ``doc`` (a checked board file) on the board at ``port``."""
    sel = select(doc, source=source, log=log)
    files = sel.files
    with tempfile.TemporaryDirectory(prefix="ephkey-deploy-") as tmp:
        board_json = Path(tmp) / "ephkey_board.json"
        board_json.write_text(json.dumps(doc, indent=1) + "\n")
        # resume: no soft reset on connecting. Ctrl-C alone stops main.py, and its
        # watchdog (wdt_ms) is then fed by a timer until the reset at the end; a
        # soft reset would stop that timer and let the watchdog reset the board
        # in the middle of the copy (firmware/ephkey/watchdog.py).
        stale = sorted(set(NATIVE_FILES) - {p.name for p in sel.native})
        args = ["resume", "exec", _PRUNE % (sorted(f.name for f in files), stale)]
        args += ["+", "fs", "cp", *map(str, files), ":ephkey/"]
        if sel.native:
            args += ["+", "fs", "cp", *map(str, sel.native), ":"]
        args += ["+", "fs", "cp", str(FIRMWARE / "main.py"), ":main.py"]
        args += ["+", "fs", "cp", str(board_json), ":ephkey_board.json"]
        if reset:
            args += ["+", "reset"]
        log(f"deploy: {_what(doc, sel, source)} -> {port}")
        out = board_mpremote(port, *args, timeout=600)
    for line in out.splitlines():
        if line.startswith("removed "):
            log("deploy: " + line)
    if "paired: no" in out:
        log("deploy: this board has no ephkey_pairing.json yet: pair it with "
            "`python -m ephkey_host pair` (README, Pairing)")
    log("deploy: done" + (", board reset" if reset else " (no reset)"))


def install_to_folder(folder: str | Path, doc: dict[str, Any], *, source: bool = False,
                      log: Log = print) -> None:
    """Write the same files into a folder that is a board's filesystem (a virtual
    board's flash, or a folder to copy to a board by other means)."""
    import shutil

    folder = Path(folder)
    sel = select(doc, source=source, log=log)
    files = sel.files
    pkg = folder / "ephkey"
    pkg.mkdir(parents=True, exist_ok=True)
    keep = {f.name for f in files}
    for old in pkg.iterdir():
        if old.name not in keep and old.is_file():
            old.unlink()
    for f in files:
        shutil.copyfile(f, pkg / f.name)
    for name in set(NATIVE_FILES) - {p.name for p in sel.native}:
        (folder / name).unlink(missing_ok=True)
    for f in sel.native:
        shutil.copyfile(f, folder / f.name)
    shutil.copyfile(FIRMWARE / "main.py", folder / "main.py")
    (folder / "ephkey_board.json").write_text(json.dumps(doc, indent=1) + "\n")
    log(f"deploy: {_what(doc, sel, source)} -> {folder}")


def _what(doc: dict[str, Any], sel: Selection, source: bool) -> str:
    kind = "sources" if source else f".mpy ({doc['arch']}, {' '.join(MPY_FLAGS)})"
    native = f" and {', '.join(p.name for p in sel.native)}" if sel.native else ""
    return (f"{len(sel.files)} ephkey modules as {kind}{native} ({sel.bytes} bytes), main.py, "
            f"board file {doc.get('name')!r} (roles {', '.join(doc.get('roles', []))}, "
            f"{doc.get('transport')}{'' if pairing_enabled(doc) else ', no device pairing'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/deploy.py",
        description="Compile the ephkey firmware for a board and install it with mpremote.",
        epilog="Boards: " + ", ".join(board_names()) + ". Exit codes: 0 done, 1 compile or copy "
        "failed, 2 usage or board-file error, 3 board not reachable.",
    )
    parser.add_argument("--board", required=True, help="a folder of boards/, or 'auto'")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial device or pyserial URL of the board's REPL")
    where.add_argument("--dir", help="write the files into this folder instead (a virtual "
                       "board's flash folder)")
    where.add_argument("--sizes", action="store_true", help="print the .mpy bytes of each "
                       "role and transport on the board's arch, deploy nothing")
    parser.add_argument("--source", action="store_true", help="install .py sources, not .mpy")
    parser.add_argument("--role", choices=("first", "second"), help="run this station role")
    parser.add_argument("--messages", type=int, help="app.messages (second station exchanges)")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override a board-file value (KEY=VALUE: a top-level key)")
    parser.add_argument("--no-reset", action="store_true", help="do not reset the board at the end")
    args = parser.parse_args(argv)
    try:
        if args.board == "auto" and not args.port:
            raise DeployError("--board auto asks a board: it needs --port")
        name = detect_board(args.port) if args.board == "auto" else args.board
        overrides = parse_set(args.sets)
        check_set(overrides)
        doc = board_file(load_board(name), args.role, args.messages, overrides)
        if args.sizes:
            size_table(doc["arch"], doc.get("port"))
        elif args.dir:
            install_to_folder(args.dir, doc, source=args.source)
        else:
            deploy(args.port, doc, source=args.source, reset=not args.no_reset)
    except DeployError as e:
        print(f"deploy: {e}", file=sys.stderr)
        return 2
    except PortError as e:
        print(f"deploy: {e}", file=sys.stderr)
        return 3
    except (RemoteError, FileNotFoundError) as e:
        print(f"deploy: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
