"""The deterministic RNG of protocol.md section 12, for vectors and tests.

The stream is ``H(seed || u32(0)) || H(seed || u32(1)) || ...``; each draw
takes the next bytes of the stream, so draws of any sizes concatenate to the
same stream. Never use it for real keys.
"""

import hashlib


class Drbg:
    def __init__(self, seed: bytes):
        self._seed = bytes(seed)
        self._counter = 0
        self._buf = b""
        self.drawn = 0  # bytes handed out so far, handy when debugging vectors

    def __call__(self, n: int) -> bytes:
        while len(self._buf) < n:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(4, "big")).digest()
            self._buf += block
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        self.drawn += n
        return out
