"""ephkey: ephemeral key establishment for MicroPython boards.

The application API (asyncio; README, "The firmware API"):

    import ephkey
    link = ephkey.uart_link(board)     # tcp_link, usb_link, ble_nus_link; board_link
    async with ephkey.connect(link, pairing) as s:      # second station
        await s.send(b"temp=21.5")
        reply = await s.recv(timeout_ms=2000)
    await ephkey.serve(link, pairings, handler)         # first station

``connect`` and ``Client`` (client.py), ``serve`` (server.py), ``Session`` and
``SessionError`` (session.py), ``load_board`` / ``load_pairings`` (the board
files), ``run_board`` (runtime.py: main.py's start-up), the link constructors
(uart.py, tcp.py, console.py, ble_link.py): each is imported when first used,
so ``import ephkey`` loads nothing else and a board loads only its role's and
its transport's modules.

The protocol is in docs/protocol.md. Modules, one concern each:
wire (frame layout), errors (codes), events (event queue), outq (frames
waiting to be sent), config (station settings, checked), srk_ring (the
circular buffer of session random keys), sessions (the first station's
session table), channel (protected frames), first and second (the two roles),
crypto (AES-CCM, HKDF, HMAC, key wrap on cryptolib and hashlib), node (a
station on a link, run by asyncio).
"""

__version__ = "0.1.0"

# name -> (module, attribute): imported on first use (module __getattr__)
_LAZY = {
    "connect": ("client", "connect"),
    "Client": ("client", "Client"),
    "serve": ("server", "serve"),
    "Session": ("session", "Session"),
    "SessionError": ("session", "SessionError"),
    "uart_link": ("uart", "uart_link"),
    "tcp_link": ("tcp", "tcp_link"),
    "usb_link": ("console", "usb_link"),
    "ble_nus_link": ("ble_link", "ble_nus_link"),
    "board_link": ("board_link", "board_link"),
    "load_board": ("board", "load"),
    "load_pairings": ("pairing_store", "load"),
    "run_board": ("runtime", "run_board"),
}


def __getattr__(name):
    where = _LAZY.get(name)
    if where is None:
        # MicroPython's ``from ephkey import x`` asks here before it looks for
        # a submodule x: import it (ImportError if there is none)
        return __import__("ephkey." + name, None, None, (name,))
    mod = __import__("ephkey." + where[0], None, None, (where[1],))
    return getattr(mod, where[1])
