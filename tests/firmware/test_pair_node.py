"""ephkey.pair_node and the board file's pairing section, inside MicroPython.

Two pairing nodes (one armed as the future second station, one as the first)
joined by an in-memory link and run by asyncio, as a board runs them: with
the same code both write a pairing file that the stations then load; with a
wrong code neither does, S reports WRONG_CODE and disarms, F stays armed.
"""

import asyncio
import os
import time

from drbg import Drbg
from ephkey import board as board_mod, pair_node, pairing, pairing_store
from memlink import MemLink

TAG = "%d" % (time.ticks_ms() & 0xFFFFFF)


def _paths():
    return ("/tmp/ephkey_pn_s_%s.json" % TAG, "/tmp/ephkey_pn_f_%s.json" % TAG)


def _clean():
    for p in _paths():
        for q in (p, p + ".tmp"):
            try:
                os.remove(q)
            except OSError:
                pass


def _pair(code_s, code_f):
    a, b = [], []
    ps, pf = _paths()
    now = time.ticks_ms()
    ms = pairing.Pairing(True, b"SECOND01", code_s, Drbg(b"node-s"), now)
    mf = pairing.Pairing(False, b"FIRST-01", code_f, Drbg(b"node-f"), now)
    ns = pair_node.PairNode(ms, MemLink(a, b), "second", ps)
    nf = pair_node.PairNode(mf, MemLink(b, a), "first", pf)

    async def main():
        tf = asyncio.create_task(nf.run())
        await ns.flush()
        await asyncio.wait_for_ms(ns.run(), 5000)
        await asyncio.sleep_ms(50)  # F answers what is still in flight
        tf.cancel()

    asyncio.run(main())
    return ns, nf


def test_same_code_writes_both_pairing_files():
    _clean()
    try:
        ns, nf = _pair("042917", "042917")
        assert ns.stored and nf.stored
        ps, pf = _paths()
        (p_s,) = pairing_store.load("second", ps)
        (p_f,) = pairing_store.load("first", pf)
        assert p_s.id_f == p_f.id_f == b"FIRST-01"
        assert p_s.id_s == p_f.id_s == b"SECOND01"
        assert p_s.ps == p_f.ps and len(p_s.ps) == 32 and p_s.ps != bytearray(32)
        assert ns.m.ps == bytearray(32)  # zeroed once stored
        # the frames on the wire: HELLO, SHARE from S; REPLY, CONFIRM from F
        assert [f[0] for f in ns.link.sent] == [0x29, 0x2B]
        assert [f[0] for f in nf.link.sent] == [0x2A, 0x2C]
    finally:
        _clean()


def test_wrong_code_stores_nothing():
    _clean()
    try:
        ns, nf = _pair("042917", "042918")
        assert not ns.stored and not nf.stored
        assert not ns.m.armed and nf.m.armed  # S gave up, F still waits
        ps, pf = _paths()
        for p in (ps, pf):
            try:
                pairing_store.load("first", p)
            except pairing_store.NotPaired:
                continue
            raise AssertionError("a pairing file after a wrong code")
        assert ns.m.backoff.fails == 1 and nf.m.backoff.fails == 1
    finally:
        _clean()


def _board(extra):
    doc = {"name": "t", "port": "unix", "roles": ["first"], "transport": "tcp",
           "tcp": {"port": 7001}}
    doc.update(extra)
    return board_mod.Board(doc)


def test_board_pairing_section():
    b = _board({})
    assert b.pairing == {"enabled": True, "window_s": 120, "retry_ms": 1000}
    b = _board({"pairing": {"window_s": 600, "retry_ms": 100, "enabled": False}})
    assert b.pairing == {"enabled": False, "window_s": 600, "retry_ms": 100}
    for bad in ({"window_s": 9}, {"window_s": 601}, {"retry_ms": 99}, {"enabled": 1},
                {"window": 120}):
        try:
            _board({"pairing": bad})
        except board_mod.BoardError as e:
            assert "pairing." in str(e), e
            continue
        raise AssertionError("accepted %r" % (bad,))


def test_disabled_board_refuses_to_arm():
    b = _board({"pairing": {"enabled": False}})
    ok = pair_node.arm_and_run(b, "042917", None, "/tmp/ephkey_pn_none.json", Drbg(b"x"),
                               None)
    assert ok is False
