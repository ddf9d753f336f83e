"""A board's start-up, for the program in main.py: ``ephkey.run_board(program)``.

The board file (ephkey_board.json) and the pairing file are checked, the
hardware RNG passes its health test and each role's station is built on it,
all before anything starts: a board with a configuration error prints the
reason and stays at its REPL. Then the watchdog starts, each role's link is
opened, and ``program(board, role, link, station)`` runs on the application
API (ephkey.serve for a first station, ephkey.Client for a second).
"""

import asyncio
import os
from time import ticks_ms  # type: ignore[attr-defined]

from . import board as board_mod, pairing_store, watchdog
from .apps import log
from .hmac_drbg import station_rng
from .rng_health import RngFailure


def max_frame(cfg):
    # a DATA frame, or the longest handshake frame (suite 3's PROOF, 91 bytes)
    return max(cfg.max_payload + 16, 91)


def raw_rng(board):
    """The raw random source the board file names (``rng``), as a callable
    ``n -> n bytes``; raises BoardError where that source does not exist.

    "os": os.urandom, the board's hardware RNG. "emulator": the emulated
    board's (tools/emuboard.py), fed by the host through semihosting: only
    the qemu port built by tools/emubuild.py has it, and a board file naming
    it anywhere else is refused here as well as by board.py.
    """
    import sys

    if board.rng == "emulator":
        if sys.platform != "qemu":
            raise board_mod.BoardError("rng 'emulator' exists only on the emulated board, "
                                       "not on %s" % sys.platform)
        try:
            from emu import urandom
        except ImportError:
            raise board_mod.BoardError("rng 'emulator': this qemu build has no emu module "
                                       "(make emu builds the emulated board)") from None
        return urandom
    source = getattr(os, "urandom", None)
    if source is None:
        raise board_mod.BoardError("rng 'os': this port has no os.urandom (no hardware RNG)")
    return source


def build(board, rng_source=None, pairing_path=pairing_store.PATH):
    """(role, station) for each role of the board; raises NotPaired,
    BoardError for a random source the board does not have (raw_rng), or
    RngFailure when the RNG fails its start-up test."""
    if rng_source is None:
        rng_source = raw_rng(board)
    # raw source -> health tests -> HMAC_DRBG -> stations: every key of every
    # role comes through it (hmac_drbg.py; on an ESP32 the radio is on while seeding)
    rng = station_rng(rng_source, getattr(board, "port", None))
    out: list = []
    now = ticks_ms()
    for role in board.roles:
        pairings = pairing_store.load(role, pairing_path)
        # each role's station imported only where the board runs it: a board
        # deployed for one role has only that role's modules (tools/deploy.py)
        if role == "first":
            from .first import FirstStation
            out.append((role, FirstStation(board.first, pairings, rng, now)))
        else:
            from .second import SecondStation
            out.append((role, SecondStation(board.second, pairings[0], rng, now)))
    return out


async def open_link(board, role, mf):
    """The board's link for ``role`` (awaited by pair_node.arm_and_run too)."""
    from .board_link import board_link

    return board_link(board, role, mf)


async def run(board, parts, program, wdt=None):
    """``program(board, role, link, station)`` for each (role, station) of
    ``parts`` on the role's link, the watchdog fed while every running node's
    timers go round (node.watch())."""
    tasks = []
    asyncio.get_event_loop().set_exception_handler(_task_error)
    if wdt is not None:
        from .node import watch

        tasks.append(asyncio.create_task(watchdog.feed_loop(wdt, watch())))
    for role, st in parts:
        cfg = board.first if role == "first" else board.second
        link = await open_link(board, role, max_frame(cfg))
        log("up", role=role, board=board.name, transport=board.transport)
        tasks.append(asyncio.create_task(program(board, role, link, st)))
    try:
        await asyncio.gather(*tasks)
    except Exception as e:  # an event line first: the console may carry the link
        _task_error(None, {"exception": e})
        raise


def _task_error(loop, context):
    # a task's uncaught exception as an event line, not a traceback printed on
    # the console, which may carry the link
    log("task_error", error=repr(context.get("exception")))


def pair(code=None, window_s=None, board_path=board_mod.PATH,
         pairing_path=pairing_store.PATH, rng_source=None):
    """Arm this board for device pairing at its REPL (docs/protocol.md 15.2):
    ``pair("042917")`` with a typed code, ``pair()`` to draw and show one.
    True once the new pairing is in the pairing file; reset to use it.
    ``rng_source``: the board file's raw source (raw_rng) unless given; not a
    default of os.urandom, which ports without it (qemu) have no attribute for."""
    from .pair_node import arm_and_run
    try:
        b = board_mod.load(board_path)
        rng = station_rng(raw_rng(b) if rng_source is None else rng_source, b.port)
    except board_mod.BoardError as e:
        log("pair_failed", reason=str(e))
        return False
    except RngFailure as e:
        log("pair_failed", reason="hardware RNG failed its health test: %s" % e)
        return False
    return arm_and_run(b, code, window_s, pairing_path, rng, open_link)


def run_board(program, board_path=board_mod.PATH, pairing_path=pairing_store.PATH):
    """Run ``await program(board, role, link, station)`` for each role of the
    board file (main.py's): ``board`` the checked board file (board.Board),
    ``link`` the role's link on the board's transport (ephkey.board_link),
    ``station`` the role's station, to pass to ephkey.serve or ephkey.Client
    as ``station=`` (built from the pairing file on the checked RNG). False
    when the board stopped on its configuration (the reason is logged)."""
    try:
        b = board_mod.load(board_path)
        parts = build(b, pairing_path=pairing_path)
    except (board_mod.BoardError, pairing_store.NotPaired) as e:
        log("stopped", reason=str(e))
        return False
    except RngFailure as e:
        log("stopped", reason="hardware RNG failed its health test: %s" % e)
        return False
    wdt = watchdog.start(b)  # only now: a board that stopped above stays at its REPL
    try:
        if b.transport == "usb":  # the console carries the link until the host asks it back
            from . import console
            console.serve(run(b, parts, program, wdt))
            if wdt is not None:
                wdt.hold()  # back at the REPL: a timer feeds the watchdog (watchdog.py)
        else:
            asyncio.run(run(b, parts, program, wdt))
    except KeyboardInterrupt:
        if wdt is not None:
            wdt.hold()  # Ctrl-C: a timer feeds it, the REPL stays usable (watchdog.py)
        raise
    return True
