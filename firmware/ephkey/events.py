"""Events a station reports, kept in a fixed ring (no allocation per event).

A station's ``next_event()`` pops one into the station's ``ev_sid``,
``ev_arg`` and, for DATA, ``ev_len`` (payload in ``station.payload``), and
returns its code, or NONE.
"""

from micropython import const

NONE = const(0)
ESTABLISHED = const(1)
DATA = const(2)
ROTATED = const(3)
CLOSED = const(4)
HANDSHAKE_FAILED = const(5)
ERROR = const(6)
PEER_ERROR = const(7)
DROPPED = const(8)  # the full output queue refused a frame (arg: its type)
BACKOFF = const(9)  # suite 3 (15.10): a peer's failed attempts started a back-off (arg: ms)

NAMES = ("NONE", "ESTABLISHED", "DATA", "ROTATED", "CLOSED",
         "HANDSHAKE_FAILED", "ERROR", "PEER_ERROR", "DROPPED", "BACKOFF")


class EventQueue:
    def __init__(self, cap):
        self._cap = cap
        self._code = bytearray(cap)
        self._sid = [0] * cap
        self._arg = [0] * cap
        self._head = 0
        self._n = 0
        self.dropped = 0  # events lost because nobody drained the queue
        self.sid = 0
        self.arg = 0

    def push(self, code, sid, arg):
        if self._n == self._cap:
            self.dropped += 1
            return
        i = (self._head + self._n) % self._cap
        self._code[i] = code
        self._sid[i] = sid
        self._arg[i] = arg
        self._n += 1

    def pop(self):
        if not self._n:
            return NONE
        i = self._head
        self._head = (i + 1) % self._cap
        self._n -= 1
        self.sid = self._sid[i]
        self.arg = self._arg[i]
        return self._code[i]

    def __len__(self):
        return self._n
