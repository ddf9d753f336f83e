"""UART pins of the esp32 port for the ESP32 chip (ports/esp32/machine_pin.h,
machine_uart.c, uart.h; MicroPython v1.28.0).

UART 0, 1, 2; UART 0 is the REPL (``MICROPY_HW_UART_REPL`` is 0 where the chip
has no USB serial, as on the ESP32) on GPIO 1 and 3; GPIO 0-23, 25-27 and
32-39 exist, 34-39 are inputs only (``GPIO_FIRST_NON_OUTPUT``), 6-11 are the
SPI flash, 16 and 17 are the PSRAM on SPIRAM builds (the port disables them
there). GPIO 20 is enabled by the port but bonded out on ESP32-PICO packages
only, so it is refused. RX is also refused on GPIO 12 (MTDI): the peer's
idle-high TX would strap the flash to 1.8 V at reset.
"""

from .uart_pins import pick

_ESP32_GPIOS = tuple(range(0, 24)) + (25, 26, 27) + tuple(range(32, 40))
_ESP32_FLASH = (6, 7, 8, 9, 10, 11)
_ESP32_REPL = (1, 3)  # UART 0's TX and RX
_ESP32_NO_OUTPUT = 34
_ESP32_STRAP_RX = (12,)


def esp32_pins(board):
    """(TX pins, RX pins) for UART 1 or 2 of an ESP32."""
    spiram = "SPIRAM" in (board or "")
    usable = []
    for p in _ESP32_GPIOS:
        if p in _ESP32_FLASH or p in _ESP32_REPL or p == 20:
            continue
        if spiram and p in (16, 17):
            continue
        usable.append(p)
    txs = tuple(p for p in usable if p < _ESP32_NO_OUTPUT)
    rxs = tuple(p for p in usable if p not in _ESP32_STRAP_RX)
    return txs, rxs


def check(mcu, board, uid, tx, rx):
    """uart_pins.check for the esp32 port."""
    if mcu not in ("ESP32", None):
        return "mcu %r: only the ESP32 (not -S2/-S3/-C3/-C6) is described here" % (mcu,)
    if uid == 0:
        return "uart.id 0: on the ESP32 UART 0 is the REPL (GPIO 1 and 3); use UART 1 or 2"
    if uid not in (1, 2):
        return "uart.id %r: the ESP32 has UART 0, 1 and 2" % (uid,)
    txs, rxs = esp32_pins(board)
    return pick(txs, rxs, "UART %d on the ESP32%s" % (uid, " (%s)" % board if board else ""),
                tx, rx)
