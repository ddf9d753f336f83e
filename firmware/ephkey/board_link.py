"""``ephkey.board_link``: the link a board file's ``transport`` names.

One place that turns ``"uart"``, ``"tcp"``, ``"usb"`` or ``"ble"`` into its
link constructor, for runtime.py and for programs that run unchanged on
every transport (examples/sensor). Each branch imports only its transport,
so a board ships only the one it uses (tools/closure.py decides these ifs
from the board file).
"""


def board_link(board, role=None, max_frame=None):
    """The board's link: ``role`` picks BLE's side (the board's first role by
    default); ``max_frame``: board.max_frame() by default."""
    if board.transport == "ble":
        from .ble_link import ble_nus_link

        return ble_nus_link(board, role, max_frame)
    if board.transport == "usb":
        from .console import usb_link

        return usb_link(board, max_frame)
    if board.transport == "uart":
        from .uart import uart_link

        return uart_link(board, max_frame)
    from .tcp import tcp_link

    return tcp_link(board, max_frame)
