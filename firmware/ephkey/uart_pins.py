"""Which UART ids and pins each chip can use, from MicroPython's port sources.

``check(port, mcu, board, uid, tx, rx)`` returns None or a message saying
what is wrong and what would do. Rules (MicroPython v1.28.0):

- rp2 (ports/rp2/machine_uart.c): UART ``u`` is on a GPIO ``p`` when
  ``((p + 4) & 8) >> 3 == u``. On the RP2040, TX is ``p % 4 == 0`` and RX
  ``p % 4 == 1``; on the RP2350 (``PICO_RP2350``) TX is any even and RX any
  odd such GPIO (its UART_AUX function puts TX/RX on the CTS/RTS pins too).
  GPIO 0-29 (RP2040, RP2350A) or 0-47 (RP2350B). On the Pico W and Pico 2 W
  the CYW43 wireless chip holds GPIO 23, 24, 25 and 29 (the boards'
  pins.csv lists GP0-GP22 and GP26-GP28 only; the pico-sdk's board headers
  give WL_REG_ON 23, WL_DATA 24, WL_CS 25, WL_CLOCK 29).
- esp32, ESP32 chip (ports/esp32/machine_pin.h, machine_uart.c, uart.h):
  UART 0, 1, 2; UART 0 is the REPL (``MICROPY_HW_UART_REPL`` is 0 where the
  chip has no USB serial, as on the ESP32) on GPIO 1 and 3; GPIO 0-23, 25-27
  and 32-39 exist, 34-39 are inputs only (``GPIO_FIRST_NON_OUTPUT``), 6-11
  are the SPI flash, 16 and 17 are the PSRAM on SPIRAM builds (the port
  disables them there). GPIO 20 is enabled by the port but bonded out on
  ESP32-PICO packages only, so it is refused. RX is also refused on GPIO 12
  (MTDI): the peer's idle-high TX would strap the flash to 1.8 V at reset.
- stm32, PYBD-SF2/SF3/SF6 (ports/stm32/boards/PYBD_SF2/mpconfigboard.h):
  UART 1, 2, 3, 4 with pins fixed by the id; UART 6 is the HCI link to the
  Bluetooth chip (``MICROPY_HW_BLE_UART_ID``).
"""

# (chip name -> GPIO count)
_RP2_GPIOS = {"RP2040": 30, "RP2350": 30, "RP2350A": 30, "RP2350B": 48}
# boards whose CYW43 takes these GPIOs
_CYW43_BOARDS = ("RPI_PICO_W", "RPI_PICO2_W")
_CYW43_PINS = (23, 24, 25, 29)

_ESP32_GPIOS = tuple(range(0, 24)) + (25, 26, 27) + tuple(range(32, 40))
_ESP32_FLASH = (6, 7, 8, 9, 10, 11)
_ESP32_REPL = (1, 3)  # UART 0's TX and RX
_ESP32_NO_OUTPUT = 34
_ESP32_STRAP_RX = (12,)

_PYBD_UARTS = (1, 2, 3, 4)
_PYBD_BT_UART = 6


def rp2_pins(mcu, board, uid):
    """(TX pins, RX pins) of rp2 UART uid on this chip and board."""
    n = _RP2_GPIOS[mcu]
    reserved = _CYW43_PINS if board in _CYW43_BOARDS else ()
    txs = []
    rxs = []
    for p in range(n):
        if ((p + 4) & 8) >> 3 != uid or p in reserved:
            continue
        if mcu == "RP2040":
            if p % 4 == 0:
                txs.append(p)
            elif p % 4 == 1:
                rxs.append(p)
        elif p % 2 == 0:
            txs.append(p)
        else:
            rxs.append(p)
    return tuple(txs), tuple(rxs)


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


def _pins(ps):
    return ", ".join(str(p) for p in ps)


def check(port, mcu, board, uid, tx=None, rx=None):
    """None if UART uid with these pins works on the chip, else why not."""
    if port == "stm32":
        if tx is not None or rx is not None:
            return "uart.tx/rx: stm32 UART pins are fixed by the id; remove them"
        if board and board.startswith("PYBD"):
            if uid == _PYBD_BT_UART:
                return ("uart.id 6: on the %s UART 6 is the Bluetooth chip's HCI link; "
                        "use UART 1, 2, 3 or 4" % board)
            if uid not in _PYBD_UARTS:
                return "uart.id %r: the %s has UART 1, 2, 3 and 4" % (uid, board)
        return None
    if port == "rp2":
        if mcu not in _RP2_GPIOS:
            return "mcu %r: an rp2 board needs mcu RP2040 or RP2350 in its board file" % (mcu,)
        if uid not in (0, 1):
            return "uart.id %r: rp2 has UART 0 and 1" % (uid,)
        txs, rxs = rp2_pins(mcu, board, uid)
        where = "UART %d on the %s%s" % (uid, mcu, " (%s)" % board if board else "")
    elif port == "esp32":
        if mcu not in ("ESP32", None):
            return "mcu %r: only the ESP32 (not -S2/-S3/-C3/-C6) is described here" % (mcu,)
        if uid == 0:
            return ("uart.id 0: on the ESP32 UART 0 is the REPL (GPIO 1 and 3); "
                    "use UART 1 or 2")
        if uid not in (1, 2):
            return "uart.id %r: the ESP32 has UART 0, 1 and 2" % (uid,)
        txs, rxs = esp32_pins(board)
        where = "UART %d on the ESP32%s" % (uid, " (%s)" % board if board else "")
    else:
        return "port %r: no UART rules for it" % (port,)
    if tx is not None and tx == rx:
        return "uart.tx and uart.rx are both GPIO %r" % (tx,)
    if tx not in txs:
        return "uart.tx %r: not a TX pin of %s (one of %s)" % (tx, where, _pins(txs))
    if rx not in rxs:
        return "uart.rx %r: not an RX pin of %s (one of %s)" % (rx, where, _pins(rxs))
    return None
