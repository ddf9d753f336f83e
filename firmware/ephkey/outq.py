"""Frames a station has built and the transport has not yet taken (spec 4.8).

A fixed ring of preallocated frame buffers. The station writes into
``slot()``, then ``commit(n)``; the transport calls ``pop()``, which returns
the frame length and leaves the frame in ``frame`` until the next pop.

A queued frame is never changed. When the ring is full, ``slot()`` hands out
a spare buffer instead and ``commit`` refuses the frame (returns False): the
station reports DROPPED and goes on as if the frame had been lost on the link.
"""


class OutQueue:
    def __init__(self, cap, frame_size):
        self._bufs = [bytearray(frame_size) for _ in range(cap)]
        self._spare = bytearray(frame_size)  # where a frame that will be refused is built
        self._len = [0] * cap
        self._cap = cap
        self._head = 0
        self._n = 0
        self.dropped = 0
        self.frame = self._bufs[0]

    def full(self):
        return self._n == self._cap

    def slot(self):
        """The buffer to build the next frame in (valid until commit)."""
        if self._n == self._cap:
            return self._spare
        return self._bufs[(self._head + self._n) % self._cap]

    def commit(self, n):
        """Queue the frame built in slot(); False if the queue was full (refused)."""
        if self._n == self._cap:
            self.dropped += 1
            spare = self._spare
            for i in range(len(spare)):  # it may hold a sealed frame: leave nothing
                spare[i] = 0
            return False
        self._len[(self._head + self._n) % self._cap] = n
        self._n += 1
        return True

    def pop(self):
        if not self._n:
            return 0
        i = self._head
        self._head = (i + 1) % self._cap
        self._n -= 1
        self.frame = self._bufs[i]
        return self._len[i]

    def __len__(self):
        return self._n
