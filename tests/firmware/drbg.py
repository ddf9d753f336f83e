"""The deterministic RNG of docs/protocol.md section 12, for tests and vectors:
the stream H(seed || u32(0)) || H(seed || u32(1)) || ... handed out in order."""

import hashlib


class Drbg:
    def __init__(self, seed):
        self.seed = bytes(seed)
        self.counter = 0
        self.buf = b""
        self.drawn = 0

    def __call__(self, n):
        while len(self.buf) < n:
            c = self.counter
            block = bytes(((c >> 24) & 0xFF, (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF))
            self.buf += hashlib.sha256(self.seed + block).digest()
            self.counter += 1
        out = self.buf[:n]
        self.buf = self.buf[n:]
        self.drawn += n
        return out
