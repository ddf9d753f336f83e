"""machine.UART from a board's settings, with each port's constructor.

rp2 and esp32 take tx/rx pins; stm32 pins are fixed by the UART id; every
port returns None from a read that timed out (StreamLink handles it). A
zero timeout keeps reads non-blocking under asyncio.
"""


def open_uart(port, u):
    from machine import UART

    baud = u.get("baudrate", 115200)
    if port == "stm32":
        return UART(u["id"], baud, timeout=0, timeout_char=2, rxbuf=u.get("rxbuf", 512))
    from machine import Pin

    return UART(u["id"], baudrate=baud, tx=Pin(u["tx"]), rx=Pin(u["rx"]), timeout=0,
                timeout_char=2, txbuf=u.get("txbuf", 1024), rxbuf=u.get("rxbuf", 1024))


def uart_link(board, max_frame=None):
    """``ephkey.uart_link``: the board file's UART (``board.uart``) as a link
    (docs/link.md framing), for connect() or serve(). ``board``: a checked
    board file (board.load()); ``max_frame``: board.max_frame() by default."""
    from .stream_link import StreamLink

    return StreamLink(open_uart(board.port, board.uart), max_frame or board.max_frame())
