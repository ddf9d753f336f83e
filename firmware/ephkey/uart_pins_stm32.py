"""UARTs of the stm32 port (MicroPython v1.28.0): pins fixed by the UART id.
On the PYBD-SF2/SF3/SF6 (ports/stm32/boards/PYBD_SF2/mpconfigboard.h): UART
1, 2, 3, 4; UART 6 is the HCI link to the Bluetooth chip
(``MICROPY_HW_BLE_UART_ID``).
"""

_PYBD_UARTS = (1, 2, 3, 4)
_PYBD_BT_UART = 6


def check(mcu, board, uid, tx, rx):
    """uart_pins.check for the stm32 port."""
    if tx is not None or rx is not None:
        return "uart.tx/rx: stm32 UART pins are fixed by the id; remove them"
    if board and board.startswith("PYBD"):
        if uid == _PYBD_BT_UART:
            return ("uart.id 6: on the %s UART 6 is the Bluetooth chip's HCI link; "
                    "use UART 1, 2, 3 or 4" % board)
        if uid not in _PYBD_UARTS:
            return "uart.id %r: the %s has UART 1, 2, 3 and 4" % (uid, board)
    return None
