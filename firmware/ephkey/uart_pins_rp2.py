"""UART pins of the rp2 port (ports/rp2/machine_uart.c, MicroPython v1.28.0).

UART ``u`` is on a GPIO ``p`` when ``((p + 4) & 8) >> 3 == u``. On the
RP2040, TX is ``p % 4 == 0`` and RX ``p % 4 == 1``; on the RP2350
(``PICO_RP2350``) TX is any even and RX any odd such GPIO (its UART_AUX
function puts TX/RX on the CTS/RTS pins too). GPIO 0-29 (RP2040, RP2350A) or
0-47 (RP2350B). On the Pico W and Pico 2 W the CYW43 wireless chip holds GPIO
23, 24, 25 and 29 (the boards' pins.csv lists GP0-GP22 and GP26-GP28 only;
the pico-sdk's board headers give WL_REG_ON 23, WL_DATA 24, WL_CS 25,
WL_CLOCK 29).
"""

from .uart_pins import pick

# (chip name -> GPIO count)
_RP2_GPIOS = {"RP2040": 30, "RP2350": 30, "RP2350A": 30, "RP2350B": 48}
# boards whose CYW43 takes these GPIOs
_CYW43_BOARDS = ("RPI_PICO_W", "RPI_PICO2_W")
_CYW43_PINS = (23, 24, 25, 29)


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


def check(mcu, board, uid, tx, rx):
    """uart_pins.check for the rp2 port."""
    if mcu not in _RP2_GPIOS:
        return "mcu %r: an rp2 board needs mcu RP2040 or RP2350 in its board file" % (mcu,)
    if uid not in (0, 1):
        return "uart.id %r: rp2 has UART 0 and 1" % (uid,)
    txs, rxs = rp2_pins(mcu, board, uid)
    return pick(txs, rxs, "UART %d on the %s%s" % (uid, mcu, " (%s)" % board if board else ""),
                tx, rx)
