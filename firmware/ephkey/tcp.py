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
