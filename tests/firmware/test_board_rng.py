"""The board file's raw random source (``rng``) and the console transport:
the emulated board's host-fed RNG ("emulator") is refused on every other
board, by the board file's check and again at start-up (runtime.raw_rng).

Runs on the unix port (make test) and on the emulated board itself
(tests/host/test_emu_firmware.py), where "emulator" is the one that works.
"""

import os
import sys

from ephkey import runtime
from ephkey.board import Board, BoardError
from ephkey.rng_health import HealthyRng

ON_EMULATOR = sys.platform == "qemu"


def _doc(**kw):
    d = {"name": "t", "port": "rp2", "roles": ["first"], "transport": "uart",
         "uart": {"id": 0, "tx": 0, "rx": 1}}
    d.update(kw)
    return d


def _refused(doc, *words):
    try:
        Board(doc)
    except BoardError as e:
        for w in words:
            assert w in str(e), (w, str(e))
        return str(e)
    raise AssertionError("board file accepted: %r" % (doc,))


def _emulated(**kw):
    return _doc(port="qemu", transport="usb", rng="emulator", **kw)


def test_every_real_port_refuses_the_emulator_rng():
    for port, extra in (("rp2", {}), ("esp32", {"uart": {"id": 2, "tx": 17, "rx": 16}}),
                        ("stm32", {"uart": {"id": 1}}),
                        ("unix", {"transport": "tcp", "tcp": {"port": 7001}})):
        doc = _doc(port=port, rng="emulator")
        doc.update(extra)
        _refused(doc, "rng 'emulator'", port)
        doc["transport"] = "usb" if port != "unix" else "tcp"
        _refused(doc, "rng 'emulator'")


def test_unknown_rng_is_refused():
    _refused(_doc(rng="prng"), "rng 'prng'", "os", "emulator")


def test_the_emulated_board_needs_its_own_rng_and_the_console():
    _refused(_doc(port="qemu", transport="usb"), "no hardware RNG")  # default "os"
    _refused(_doc(port="qemu", transport="usb", rng="os"), "no hardware RNG")
    _refused(_doc(port="qemu", rng="emulator"), "only its console", "usb")  # uart
    b = Board(_emulated())
    assert b.rng == "emulator" and b.transport == "usb"


def test_usb_transport_carries_one_role_on_a_board_with_a_console():
    assert Board(_doc(transport="usb")).transport == "usb"
    _refused(_doc(transport="usb", roles=["first", "second"]), "one role")
    _refused(_doc(port="unix", transport="usb"), "unix", "tcp")


def test_default_rng_is_the_hardware_rng():
    b = Board(_doc())
    assert b.rng == "os"
    if hasattr(os, "urandom"):
        assert runtime.raw_rng(b) is os.urandom
    else:  # the emulated board has none
        try:
            runtime.raw_rng(b)
        except BoardError as e:
            assert "os.urandom" in str(e)
        else:
            raise AssertionError("raw_rng gave a source this port does not have")


if not ON_EMULATOR:
    def test_start_up_refuses_the_emulator_rng_off_the_emulator():
        b = Board(_emulated())
        try:
            runtime.raw_rng(b)
        except BoardError as e:
            assert "only on the emulated board" in str(e) and sys.platform in str(e), str(e)
        else:
            raise AssertionError("the emulator RNG was handed out on " + sys.platform)
        # build() asks raw_rng: a board file copied to the wrong board stops at start-up
        try:
            runtime.build(b, pairing_path="/nonexistent/ephkey_pairing.json")
        except BoardError:
            pass
        else:
            raise AssertionError("build() started with the emulator RNG on " + sys.platform)

else:  # only the emulated board has it
    def test_the_emulator_rng_works_on_the_emulator():
        src = runtime.raw_rng(Board(_emulated()))
        draws = [src(32) for _ in range(8)]
        assert all(len(d) == 32 for d in draws)
        assert len(set(draws)) == 8
        HealthyRng(src)  # its start-up test over 1024 bytes passes
