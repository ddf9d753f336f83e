"""Health tests on the hardware RNG, in the spirit of NIST SP 800-90B 4.4.

``HealthyRng(source)`` wraps the raw source (``os.urandom``): raw source ->
health tests -> HMAC_DRBG (hmac_drbg.py) -> stations. It runs a start-up
test over 1024 bytes, then checks every raw byte the DRBG takes (its seeds,
reseeds and the 16 bytes mixed into every request), and latches into
failure: once a test fails every draw raises ``RngFailure`` until the board
restarts, so no key is ever made from a suspect generator. The tests catch a
broken source (stuck, biased, repeating); they cannot tell a PRNG from noise,
which is why the stations draw from the DRBG and the budget of hmac_drbg.py
counts only what this module's claim allows.

Tests (bytes as 8-bit samples; we claim only H = 4 bits of min-entropy per
byte, so the cut-offs are loose for a good source: false alarms below 2**-20
per window):
- repetition count: 6 identical bytes in a row fail (1 + ceil(20 / H));
- adaptive proportion: in a window of 512 bytes, the window's first byte
  seen 62 times or more fails (critical binomial value for p = 2**-4);
- stuck bits: over 64 bytes every bit position must have been both 0 and 1;
- repeated output: a draw equal to the previous draw fails (FIPS 140-2
  continuous test).
"""

from micropython import const

_RCT_CUTOFF = const(6)
_APT_WINDOW = const(512)
_APT_CUTOFF = const(62)
_STUCK_WINDOW = const(64)
_STARTUP = const(1024)


class RngFailure(Exception):
    pass


class HealthyRng:
    def __init__(self, source):
        self._source = source
        self.failed = None  # the reason, once a test failed
        self.drawn = 0
        self._last = -1
        self._run = 0
        self._apt_first = -1
        self._apt_count = 0
        self._apt_seen = 0
        self._and = 0xFF
        self._or = 0
        self._stuck_seen = 0
        self._prev = b""
        self._check(source(_STARTUP))  # start-up test: raises on a bad source

    def __call__(self, n):
        if self.failed:
            raise RngFailure(self.failed)
        out = self._source(n)
        if len(out) != n:
            self._fail("short read: %d of %d bytes" % (len(out), n))
        if n >= 8 and out == self._prev:
            self._fail("repeated output of %d bytes" % n)
        self._prev = out
        self._check(out)
        return out

    def _check(self, data):
        for b in data:
            # repetition count
            if b == self._last:
                self._run += 1
                if self._run >= _RCT_CUTOFF:
                    self._fail("repetition count: byte %d seen %d times in a row" % (b, self._run))
            else:
                self._last = b
                self._run = 1
            # adaptive proportion
            if self._apt_seen == 0:
                self._apt_first = b
                self._apt_count = 1
            elif b == self._apt_first:
                self._apt_count += 1
                if self._apt_count >= _APT_CUTOFF:
                    self._fail("adaptive proportion: byte %d seen %d times in %d"
                               % (b, self._apt_count, _APT_WINDOW))
            self._apt_seen = (self._apt_seen + 1) % _APT_WINDOW
            # stuck bits
            self._and &= b
            self._or |= b
            self._stuck_seen += 1
            if self._stuck_seen == _STUCK_WINDOW:
                if self._and or self._or != 0xFF:
                    self._fail("stuck bits: and=%02x or=%02x over %d bytes"
                               % (self._and, self._or, _STUCK_WINDOW))
                self._and = 0xFF
                self._or = 0
                self._stuck_seen = 0
        self.drawn += len(data)

    def _fail(self, why):
        self.failed = why
        raise RngFailure(why)
