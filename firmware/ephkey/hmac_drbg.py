"""The stations' RNG: raw source -> health tests -> HMAC_DRBG (SHA-256).

Why a DRBG. What a port's ``os.urandom`` returns is not raw noise
everywhere: on the ESP32 it is ``esp_random()``, which ESP-IDF documents as
a pseudo-random generator unless Wi-Fi or Bluetooth is on; the RP2040's
``get_rand_64()`` is a software PRNG fed by ring-oscillator noise. The health
tests (rng_health) cannot tell a PRNG from noise. So every key comes from one
SP 800-90A Rev. 1 HMAC_DRBG with SHA-256 (``HmacDrbg``, checked against
NIST's CAVP vectors), seeded and reseeded from the raw source through the
health tests, with the budget below; on the ESP32 the radio is switched on
while seeding (``Esp32Radio``).

Entropy budget. rng_health claims H = 4 bits of min-entropy per raw byte
(half of what a byte can hold; an assumption about the source that no test
can prove). The DRBG's security strength is 256 bits, so:

- instantiate: 96 raw bytes: ``entropy_input`` 64 bytes (256 bits at H = 4)
  and ``nonce`` 32 bytes (128 bits, SP 800-90A 8.6.7: a nonce from the
  entropy source carries half the security strength);
- reseed: 64 raw bytes (256 bits), before the first request after every
  ``reseed_every`` requests (64 by default, far below SP 800-90A's 2**48);
  the schedule depends only on the request count, so it can be predicted;
- every request also draws 16 raw bytes through the health tests. No entropy
  is claimed for them: they keep the tests running on the raw source between
  reseeds, so a source that fails stops key generation at the next draw
  rather than at the next reseed. They are hashed into a pool (one SHA-256
  update) whose digest is the next reseed's ``additional_input``, so what
  entropy they carry is mixed in there. A request itself passes no
  ``additional_input``: generate then costs 2 + ceil(n / 32) HMACs instead
  of 8 + ceil(n / 32) (SP 800-90A 10.1.2.5 skips step 2 and updates with
  no provided data), which took a suite-1 REQ's draw from 11 HMACs to 5.

Failure: a raw source that fails a health test raises ``RngFailure`` (and
stays failed); this layer then latches too and refuses every later request,
even though its state could still produce output. ``rng(n)`` returns n bytes
or raises ``RngFailure`` / ``OSError``, which the stations map to
RNG_FAILURE.
"""

import hashlib

from micropython import const

from . import mac
from .rng_health import HealthyRng, RngFailure

SEED_ENTROPY = const(64)  # raw bytes of entropy_input (256 bits at 4 bits/byte)
SEED_NONCE = const(32)  # raw bytes of nonce (128 bits)
RESEED_BYTES = const(64)  # raw bytes per reseed (256 bits)
MIX_BYTES = const(16)  # raw bytes of additional_input per request (no entropy claimed)
RESEED_EVERY = const(64)  # requests between reseeds
MAX_REQUEST = const(65536)  # bytes per request: SP 800-90A 10.1, 2**19 bits

_IPAD = b"\x36" * 64
_OPAD = b"\x5c" * 64


class HmacDrbg:
    """SP 800-90A Rev. 1 section 10.1.2, with SHA-256. No prediction resistance.

    ``key`` and ``v`` are bytearrays updated in place, so the state that
    leaves use is overwritten (the digests hashlib returns on the way are
    short-lived garbage).
    """

    def __init__(self, entropy, nonce, personalization=b""):
        self.key = bytearray(32)
        self.v = bytearray(b"\x01" * 32)
        self._pad = bytearray(64)
        self._update(entropy, nonce, personalization)
        self.reseed_counter = 1

    def _hmac(self, a, b=b"", c=b"", d=b"", e=b""):
        """HMAC-SHA256 under self.key of a || b || c || d || e (no concatenation)."""
        pad = self._pad
        key = self.key
        mac.xor(pad, 0, key, 0, _IPAD, 0, 32)
        pad[32:] = _IPAD[32:]
        h = hashlib.sha256(pad)
        h.update(a)
        h.update(b)
        h.update(c)
        h.update(d)
        h.update(e)
        inner = h.digest()
        mac.xor(pad, 0, key, 0, _OPAD, 0, 32)
        pad[32:] = _OPAD[32:]
        h = hashlib.sha256(pad)
        h.update(inner)
        return h.digest()

    def _update(self, a=b"", b=b"", c=b""):
        """HMAC_DRBG_Update with provided_data = a || b || c."""
        self.key[:] = self._hmac(self.v, b"\x00", a, b, c)
        self.v[:] = self._hmac(self.v)
        if len(a) or len(b) or len(c):
            self.key[:] = self._hmac(self.v, b"\x01", a, b, c)
            self.v[:] = self._hmac(self.v)

    def reseed(self, entropy, additional=b""):
        self._update(entropy, additional)
        self.reseed_counter = 1

    def generate(self, n, additional=b""):
        """n bytes (n <= MAX_REQUEST); the caller reseeds on its own schedule."""
        if n < 0 or n > MAX_REQUEST:
            raise ValueError("request size")
        if len(additional):
            self._update(additional)
        out = bytearray(n)
        i = 0
        while i < n:
            self.v[:] = self._hmac(self.v)
            k = min(32, n - i)
            out[i:i + k] = self.v[:k] if k < 32 else self.v
            i += k
        self._update(additional)
        self.reseed_counter += 1
        return bytes(out)

    def wipe(self):
        for i in range(32):
            self.key[i] = 0
            self.v[i] = 0
        for i in range(64):
            self._pad[i] = 0


class Esp32Radio:
    """Wi-Fi on while the DRBG is (re)seeded on an ESP32.

    ESP-IDF: ``esp_random()`` returns true random numbers only while an RF
    subsystem (Wi-Fi or Bluetooth) runs; otherwise the hardware RNG is a
    PRNG. MicroPython's ``WLAN.active(True)`` returns once the station
    interface has started (ports/esp32/network_wlan.c waits for it). The
    interface is switched off again only if it was off before.
    """

    def __init__(self, net=None):
        if net is None:
            import network

            net = network
        self._wlan = net.WLAN(net.STA_IF)
        self._was_on = False
        self.switched = 0  # times this switched the radio on

    def on(self):
        self._was_on = bool(self._wlan.active())
        if not self._was_on:
            self._wlan.active(True)
            self.switched += 1

    def off(self):
        if not self._was_on:
            self._wlan.active(False)


class SeededRng:
    """``rng(n)`` for the stations: HmacDrbg seeded from a health-tested raw source.

    ``healthy`` is a callable returning n raw bytes that runs the health tests
    (a HealthyRng). Counters for tests and the budget: ``raw_drawn`` (raw
    bytes taken), ``seeds`` (instantiate + reseeds), ``requests``.
    """

    def __init__(self, healthy, radio=None, reseed_every=RESEED_EVERY, personalization=b""):
        if reseed_every < 1:
            raise ValueError("reseed_every")
        self._raw = healthy
        self._radio = radio
        self.reseed_every = reseed_every
        self.failed = None
        self.raw_drawn = 0
        self.seeds = 0
        self.requests = 0
        self._since = 0  # requests since the last (re)seed
        self._pool = hashlib.sha256()  # the raw bytes of the requests since the last reseed
        seed = self._seed(SEED_ENTROPY + SEED_NONCE)
        self._drbg = HmacDrbg(seed[:SEED_ENTROPY], seed[SEED_ENTROPY:], personalization)

    def _draw(self, n):
        try:
            out = self._raw(n)
        except Exception as e:
            self.failed = str(e) or e.__class__.__name__
            raise
        if len(out) != n:
            self.failed = "short raw read"
            raise RngFailure(self.failed)
        self.raw_drawn += n
        return out

    def _seed(self, n):
        radio = self._radio
        if radio is not None:
            radio.on()
        try:
            out = self._draw(n)
        finally:
            if radio is not None:
                radio.off()
        self.seeds += 1
        return out

    def __call__(self, n):
        if self.failed:
            raise RngFailure(self.failed)
        if self._since >= self.reseed_every:
            self._drbg.reseed(self._seed(RESEED_BYTES), self._pool.digest())
            self._pool = hashlib.sha256()
            self._since = 0
        self._pool.update(self._draw(MIX_BYTES))  # health-tested; mixed in at the next reseed
        self.requests += 1
        self._since += 1
        return self._drbg.generate(n)

    def reseeds_before(self, requests):
        """How many reseeds the first ``requests`` requests cause (the schedule)."""
        return max(0, (requests - 1) // self.reseed_every)


def station_rng(raw_source, port=None, radio=None):
    """raw source -> health tests -> HMAC_DRBG: the rng every station draws from.

    Raises RngFailure when the raw source fails its start-up test. On an
    ESP32 the radio is on during the start-up test and every (re)seed.
    """
    if radio is None and port == "esp32":
        try:
            radio = Esp32Radio()
        except ImportError:  # a build without `network`: esp_random() stays a PRNG
            raise RngFailure("esp32: no network module to switch the radio on") from None
    if radio is not None:
        radio.on()
    try:
        healthy = HealthyRng(raw_source)  # start-up test over 1024 raw bytes
    finally:
        if radio is not None:
            radio.off()
    return SeededRng(healthy, radio)


def default_rng():
    """station_rng over os.urandom for the port it runs on (an ESP32 seeds with
    its radio on): the API's rng when its caller gives none."""
    import os
    import sys

    return station_rng(os.urandom, sys.platform)
