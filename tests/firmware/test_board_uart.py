"""UART checks of the board file, per chip, as MicroPython's ports decide.

The expected pin sets are computed here from the rules quoted in
ephkey/uart_pins.py (ports/rp2/machine_uart.c's IS_VALID_TX/RX macros, the
Pico W boards' pins.csv, ports/esp32/machine_pin.h and uart.h, the PYBD's
mpconfigboard.h) and compared with what the board check accepts, pin by pin.
"""

import json

from ephkey import board as board_mod
from ephkey.board import Board, BoardError

BOARDS = ("rpi_pico_w", "rpi_pico2_w", "esp32", "pybd_sf6", "unix")


def doc(port, mcu=None, mboard=None, **uart):
    d = {"name": "t", "port": port, "roles": ["first"], "transport": "uart",
         "uart": dict(uart)}
    if mcu:
        d["mcu"] = mcu
    if mboard:
        d["micropython_board"] = mboard
    return d


def accepts(d):
    try:
        Board(d)
    except BoardError as e:
        return str(e)
    return None


def rp2_valid(rp2350, uid, pin, tx):
    # ports/rp2/machine_uart.c, v1.28.0
    periph = (((pin + 4) & 8) >> 3) == uid
    if rp2350:
        return periph and (pin & 1) == (0 if tx else 1)
    return periph and (pin & 3) == (0 if tx else 1)


def test_shipped_board_files_pass():
    for name in BOARDS:
        with open("boards/%s/board.json" % name) as f:
            d = json.load(f)
        Board(d)  # raises on a mistake


def test_rp2040_pico_w_pins_pin_by_pin():
    cyw43 = (23, 24, 25, 29)
    for uid in (0, 1):
        for pin in range(30):
            # TX alone (with a known good RX), then RX alone
            good_rx = 1 if uid == 0 else 5
            good_tx = 0 if uid == 0 else 4
            want_tx = rp2_valid(False, uid, pin, True) and pin not in cyw43
            want_rx = rp2_valid(False, uid, pin, False) and pin not in cyw43
            got_tx = accepts(doc("rp2", "RP2040", "RPI_PICO_W", id=uid, tx=pin, rx=good_rx))
            got_rx = accepts(doc("rp2", "RP2040", "RPI_PICO_W", id=uid, tx=good_tx, rx=pin))
            assert (got_tx is None) == want_tx, (uid, pin, got_tx)
            assert (got_rx is None) == want_rx, (uid, pin, got_rx)


def test_pico_w_refuses_the_cyw43_pins_the_old_check_allowed():
    # the RP2040 rule alone allows these; on a Pico W they are the wireless chip
    for uid, tx, rx in ((0, 0, 29), (1, 24, 5), (1, 4, 25)):
        why = accepts(doc("rp2", "RP2040", "RPI_PICO_W", id=uid, tx=tx, rx=rx))
        assert why and ("not a TX pin" in why or "not an RX pin" in why), why
    # a plain Pico (no CYW43) may use GPIO 29
    assert accepts(doc("rp2", "RP2040", "RPI_PICO", id=0, tx=0, rx=29)) is None


def test_rp2350_pico2_w_pins_pin_by_pin():
    cyw43 = (23, 24, 25, 29)
    for uid in (0, 1):
        good_tx, good_rx = (0, 1) if uid == 0 else (4, 5)
        for pin in range(30):
            want_tx = rp2_valid(True, uid, pin, True) and pin not in cyw43
            want_rx = rp2_valid(True, uid, pin, False) and pin not in cyw43
            got_tx = accepts(doc("rp2", "RP2350", "RPI_PICO2_W", id=uid, tx=pin, rx=good_rx))
            got_rx = accepts(doc("rp2", "RP2350", "RPI_PICO2_W", id=uid, tx=good_tx, rx=pin))
            assert (got_tx is None) == want_tx, (uid, pin, got_tx)
            assert (got_rx is None) == want_rx, (uid, pin, got_rx)


def test_rp2350_accepts_pins_the_rp2040_rule_refused():
    # UART_AUX: TX/RX on the CTS/RTS pins (GPIO 2/3 for UART 0, 6/7 for UART 1)
    assert accepts(doc("rp2", "RP2350", "RPI_PICO2_W", id=0, tx=2, rx=3)) is None
    assert accepts(doc("rp2", "RP2350", "RPI_PICO2_W", id=1, tx=6, rx=7)) is None
    assert accepts(doc("rp2", "RP2040", "RPI_PICO_W", id=0, tx=2, rx=3))
    why = accepts(doc("rp2", "RP2350", "RPI_PICO2_W", id=0, tx=4, rx=5))
    assert why and "UART 0 on the RP2350" in why and "0, 2, 12" in why, why


def test_rp2_needs_the_chip():
    why = accepts(doc("rp2", None, "RPI_PICO_W", id=0, tx=0, rx=1))
    assert why and "mcu" in why, why
    why = accepts(doc("rp2", "RP2040", None, id=2, tx=0, rx=1))
    assert why and "UART 0 and 1" in why, why


def test_esp32_uart0_is_the_repl():
    why = accepts(doc("esp32", "ESP32", "ESP32_GENERIC", id=0, tx=17, rx=16))
    assert why and "REPL" in why, why
    for uid in (1, 2):
        assert accepts(doc("esp32", "ESP32", "ESP32_GENERIC", id=uid, tx=17, rx=16)) is None
    assert accepts(doc("esp32", "ESP32", "ESP32_GENERIC", id=3, tx=17, rx=16))


def test_esp32_pins():
    d = lambda tx, rx, b="ESP32_GENERIC": doc("esp32", "ESP32", b, id=2, tx=tx, rx=rx)  # noqa: E731
    assert accepts(d(17, 16)) is None
    assert accepts(d(33, 35)) is None  # 35: input only, fine for RX
    for bad_tx in (35, 39, 6, 11, 1, 3, 20, 24, 28):
        assert accepts(d(bad_tx, 16)), bad_tx
    for bad_rx in (7, 10, 1, 3, 12, 24, 40):
        assert accepts(d(17, bad_rx)), bad_rx
    why = accepts(d(17, 12))
    assert "not an RX pin" in why, why
    assert accepts(d(16, 16))  # the same pin twice
    # SPIRAM builds: GPIO 16 and 17 drive the PSRAM (ports/esp32/machine_pin.h)
    assert accepts(d(17, 16, "ESP32_GENERIC-SPIRAM"))
    assert accepts(d(4, 5, "ESP32_GENERIC-SPIRAM")) is None


def test_pybd_uart6_is_the_bluetooth_chip():
    for uid in (1, 2, 3, 4):
        assert accepts(doc("stm32", "STM32F767", "PYBD_SF6", id=uid)) is None
    why = accepts(doc("stm32", "STM32F767", "PYBD_SF6", id=6))
    assert why and "Bluetooth" in why, why
    why = accepts(doc("stm32", "STM32F767", "PYBD_SF6", id=1, tx=1))
    assert why and "fixed by the id" in why, why


def test_chip_from_the_running_board():
    # without "mcu" the check asks sys.implementation._machine
    import sys
    machine = getattr(sys.implementation, "_machine", "")
    if "RP2040" in machine or "RP2350" in machine:
        return
    assert board_mod._chip({}) is None
    assert board_mod._chip({"mcu": "RP2350 (Arm cores)"}) == "RP2350"
