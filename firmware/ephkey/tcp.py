"""A TCP connection as the "UART" of a virtual board (the unix port has no
machine.UART): the link simulator listens, the board connects."""

import socket


def open_tcp(host, port, timeout_s=10):
    addr = socket.getaddrinfo(host, port)[0][-1]
    s = socket.socket()
    s.settimeout(timeout_s)
    s.connect(addr)
    s.setblocking(False)  # asyncio polls it from here on
    return s


VBOARD = "vboard.json"


def vboard_uart():
    """On a virtual board (tools/vboard.py) its wiring names the TCP "UART"."""
    import json

    try:
        with open(VBOARD) as f:
            return json.load(f).get("uart")
    except (OSError, ValueError):
        return None


def tcp_link(board, max_frame=None):
    """``ephkey.tcp_link``: the TCP "UART" of a virtual board (the one its
    wiring names, else ``board.tcp``) as a link (docs/link.md framing)."""
    from .stream_link import StreamLink

    tcp = vboard_uart() or board.tcp
    return StreamLink(open_tcp(tcp.get("host", "127.0.0.1"), tcp["port"]),
                      max_frame or board.max_frame())
