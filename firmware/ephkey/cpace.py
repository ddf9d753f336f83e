"""CPace, ciphersuite CPACE-X25519-SHA512 (draft-irtf-cfrg-cpace-21), for pairing.

A balanced PAKE: both parties hold the same PRS (password-related string),
each sends one share, each derives the same ISK (intermediate session key,
64 bytes) if and only if PRS, CI, sid and both (share, AD) messages match.
Neither share nor any output lets an eavesdropper or a peer test a PRS guess
offline; an active attacker tests one guess per run. docs/cpace.md says how
ephkey calls it.

    a = CPace(initiator=True)           b = CPace(initiator=False)
    ya = a.start(prs, ci, sid, ada, rng) yb = b.start(prs, ci, sid, adb, rng)
             ---- Ya, ADa ---->    <---- Yb, ADb ----
    a.finish(isk_a, yb, adb)            b.finish(isk_b, ya, ada)

Steps (draft sections 7.2, 8.1, 8.2):
- generator g = Elligator2(decodeUCoordinate(SHA-512(generator_string)[0:32])),
  generator_string = lv_cat(b"CPace255", PRS, zero padding, CI, sid), the
  padding filling the first 128-byte SHA-512 block;
- scalar y = 32 bytes from the injected ``rng``; share Y = X25519(y, g);
- K = X25519(y, peer's share); abort (CPaceAbort) if K is all zeros (the
  peer sent a low-order point) or the share is not 32 bytes;
- ISK = SHA-512(lv_cat(b"CPace255_ISK", sid, K) || transcript), the
  transcript being ``IR``: lv_cat(Ya, ADa) || lv_cat(Yb, ADb) with A the
  initiator, or ``OC``: b"oc" || the larger of lv_cat(Ya, ADa) and
  lv_cat(Yb, ADb) || the smaller (no roles, draft 6.3).

Secrets: the scalar, the generator (g lets anyone test PRS guesses offline)
and K live in the CPace object's own buffers, allocated once; g is zeroed as
soon as the share is made, y and K as soon as the ISK is written (or on
abort), and ``wipe()`` zeroes all of them. The ISK goes into the caller's
buffer. SHA-512 is sha512.SHA512 (wiped after each hash) unless the port's
hashlib has sha512. What cannot be zeroed: the big ints of x25519.py and
elligator2.py (garbage-collected, see their docstrings for what is and is
not constant time), the bytes object the rng returns (a bytearray is
zeroed), and a native hashlib object's state.

PRS, CI, sid and the ADs are read, never copied: the caller keeps them
unchanged from start() to finish().
"""

from micropython import const

from . import sha512
from .elligator2 import map_steps
from .x25519 import x25519_into

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from circuitpython_typing import ReadableBuffer, WriteableBuffer

IR = const(0)  # initiator-responder transcript (transcript_ir)
OC = const(1)  # ordered concatenation, no roles (transcript_oc)
SHARE_LEN = const(32)
ISK_LEN = const(64)
SID_OUTPUT_LEN = const(64)
DSI = b"CPace255"
_DSI_ISK = b"CPace255_ISK"
_SID_OUTPUT = b"CPaceSidOutput"
_S_IN_BYTES = const(128)  # SHA-512's input block size
_ZEROS = bytes(_S_IN_BYTES)

_IDLE = const(0)
_STARTED = const(1)
_DONE = const(2)


class CPaceAbort(Exception):
    """The run must end without a key: an invalid share (draft section 7.2)."""


# ---------------------------------------------------------------- hashing


class Hash:
    """SHA-512 behind one interface: ``start()`` gives an object with update(),
    ``finish_into(out, n)`` writes the first n digest bytes and wipes.

    ``factory`` (tests) makes hashlib-like objects; by default hashlib's
    sha512 where the port has one, else one sha512.SHA512 reused and wiped.
    """

    def __init__(self, factory: "Callable[[], Any] | None" = None):
        if factory is None and sha512._native is not None:
            factory = sha512._native
        self._factory = factory
        self._own = sha512.SHA512() if factory is None else None
        self._h: Any = None

    def start(self):
        if self._own is not None:
            self._own.reset()
            self._h = self._own
        else:
            assert self._factory is not None
            self._h = self._factory()
        return self._h

    def finish_into(self, out: "WriteableBuffer", n: int) -> None:
        h = self._h
        self._h = None
        own = self._own
        if own is not None and h is own:
            own.digest_into(out, n)
            own.wipe()
        else:
            d = h.digest()  # a heap copy we cannot zero (native hashlib only)
            for i in range(n):
                out[i] = d[i]

    def wipe(self) -> None:
        if self._own is not None:
            self._own.wipe()
        self._h = None


def leb128(n: int) -> bytes:
    """The length prefix of prepend_len (draft A.1.1): 7 bits a byte, LSB first."""
    out = bytearray()
    while True:
        if n < 128:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def lv_feed(h, data: "ReadableBuffer") -> None:
    """h.update(prepend_len(data)) without building the concatenation."""
    h.update(leb128(len(data)))
    h.update(data)


def generator_string_feed(h, prs: "ReadableBuffer", ci: "ReadableBuffer",
                          sid: "ReadableBuffer") -> None:
    """h.update(generator_string(DSI, PRS, CI, sid, 128)) in pieces (draft A.2)."""
    _generator_head(h, prs)
    lv_feed(h, ci)
    lv_feed(h, sid)


def _generator_head(h, prs) -> None:
    """DSI, PRS and the zero padding: the first SHA-512 block, exactly (for a
    PRS of up to 116 bytes)."""
    zpad = _S_IN_BYTES - 1 - (len(leb128(len(prs))) + len(prs)) - (1 + len(DSI))
    if zpad < 0:
        zpad = 0
    lv_feed(h, DSI)
    lv_feed(h, prs)
    lv_feed(h, memoryview(_ZEROS)[:zpad])


def _lv_larger(ya, ada, yb, adb) -> bool:
    """lexiographically_larger(lv_cat(ya, ada), lv_cat(yb, adb)) (draft A.3.1),
    without building either string. The inputs are public messages."""
    a = (leb128(len(ya)), ya, leb128(len(ada)), ada)
    b = (leb128(len(yb)), yb, leb128(len(adb)), adb)
    ia = ib = 0  # piece index, offset within it
    oa = ob = 0
    while True:
        while ia < 4 and oa == len(a[ia]):
            ia += 1
            oa = 0
        while ib < 4 and ob == len(b[ib]):
            ib += 1
            ob = 0
        if ia == 4 or ib == 4:
            return ia < 4  # a is longer, with b as its prefix
        ca = a[ia][oa]
        cb = b[ib][ob]
        if ca != cb:
            return ca > cb
        oa += 1
        ob += 1


def transcript_head(h, mode: int, ya, ada, yb, adb):
    """transcript_feed but its last piece, which it returns (the second AD in
    the transcript's order): isk_steps feeds that one in a step of its own."""
    if mode == OC:
        h.update(b"oc")
        if not _lv_larger(ya, ada, yb, adb):
            ya, ada, yb, adb = yb, adb, ya, ada
    elif mode != IR:
        raise ValueError("cpace: mode")
    lv_feed(h, ya)
    lv_feed(h, ada)
    lv_feed(h, yb)
    return adb


def transcript_feed(h, mode: int, ya, ada, yb, adb) -> None:
    """h.update(transcript_ir or transcript_oc(Ya, ADa, Yb, ADb)) (draft 6.3)."""
    lv_feed(h, transcript_head(h, mode, ya, ada, yb, adb))


# ---------------------------------------------------------------- group steps


def calculate_generator_into(g_out: bytearray, prs, ci, sid, hash_: "Hash | None" = None) -> None:
    """g_out = G_X25519.calculate_generator(SHA-512, PRS, CI, sid) (draft 8.2)."""
    for _ in generator_steps(g_out, prs, ci, sid, hash_):
        pass


def generator_steps(g_out: bytearray, prs, ci, sid, hash_: "Hash | None" = None):
    """calculate_generator_into as a generator, for callers that must not hold
    their event loop for it (suite 3's jobs, docs/protocol.md 4.7): each
    next() hashes one SHA-512 block or runs one step of the Elligator2 map
    (elligator2.STEP squarings); g_out is written by the last one."""
    hh = Hash() if hash_ is None else hash_
    h = hh.start()
    _generator_head(h, prs)
    yield
    lv_feed(h, ci)
    lv_feed(h, sid)
    hh.finish_into(g_out, 32)  # H.hash(gen_str, field_size_bytes)
    yield
    yield from map_steps(g_out, g_out)  # reads all 32 bytes before writing


def scalar_mult_vfy_into(out: bytearray, y, u) -> bool:
    """out = X25519(y, u); False (and out all zeros, G.I) for a low-order u."""
    try:
        x25519_into(out, y, u)
    except ValueError:
        for i in range(32):
            out[i] = 0
        return False
    acc = 0
    for i in range(32):
        acc |= out[i]
    return acc != 0


def isk_into(out: "WriteableBuffer", k, sid, mode: int, ya, ada, yb, adb,
             hash_: "Hash | None" = None) -> None:
    """out[0:64] = SHA-512(lv_cat(b"CPace255_ISK", sid, K) || transcript)."""
    for _ in isk_steps(out, k, sid, mode, ya, ada, yb, adb, hash_):
        pass


def isk_steps(out: "WriteableBuffer", k, sid, mode: int, ya, ada, yb, adb,
              hash_: "Hash | None" = None):
    """isk_into in two steps (a generator): all but the last AD, then the rest
    and the digest; with ephkey's inputs each step hashes one SHA-512 block.
    K is read in the first step only."""
    hh = Hash() if hash_ is None else hash_
    h = hh.start()
    lv_feed(h, _DSI_ISK)
    lv_feed(h, sid)
    lv_feed(h, k)
    last = transcript_head(h, mode, ya, ada, yb, adb)
    yield
    lv_feed(h, last)
    hh.finish_into(out, ISK_LEN)


def sid_output_into(out: "WriteableBuffer", mode: int, ya, ada, yb, adb,
                    hash_: "Hash | None" = None) -> None:
    """out[0:64] = SHA-512(b"CPaceSidOutput" || transcript) (draft 10.6)."""
    hh = Hash() if hash_ is None else hash_
    h = hh.start()
    h.update(_SID_OUTPUT)
    transcript_feed(h, mode, ya, ada, yb, adb)
    hh.finish_into(out, SID_OUTPUT_LEN)


# ---------------------------------------------------------------- one party


def _zero(buf) -> None:
    for i in range(len(buf)):
        buf[i] = 0


class CPace:
    """One party of a CPace run; reusable (start again after finish or abort).

    ``initiator`` says which of (Ya, ADa) / (Yb, ADb) is ours in the IR
    transcript; the OC transcript has no roles. ``share`` holds our share
    after start(); ``peer`` the peer's after finish().
    """

    def __init__(self, initiator: bool, mode: int = IR, hash_: "Hash | None" = None):
        if mode != IR and mode != OC:
            raise ValueError("cpace: mode")
        self.initiator = initiator
        self.mode = mode
        self.share = bytearray(SHARE_LEN)
        self.peer = bytearray(SHARE_LEN)
        self._y = bytearray(32)
        self._g = bytearray(32)
        self._k = bytearray(32)
        self._hash = Hash() if hash_ is None else hash_
        self._sid: Any = b""
        self._ad: Any = b""
        self._peer_ad: Any = b""
        self._state = _IDLE

    def start(self, prs, ci, sid, ad, rng: "Callable[[int], Any]") -> bytearray:
        """Draw a scalar, compute our share; returns ``self.share`` (send it with ad)."""
        r = rng(32)
        if len(r) != 32:
            raise ValueError("cpace: rng gave %d bytes" % len(r))
        y = self._y
        for i in range(32):
            y[i] = r[i]
        if isinstance(r, bytearray):
            _zero(r)
        try:
            calculate_generator_into(self._g, prs, ci, sid, self._hash)
            # Y = X25519(y, g); all zeros is impossible (g is never of low order).
            if not scalar_mult_vfy_into(self.share, y, self._g):
                raise ValueError("cpace: generator of low order")
        except BaseException:
            self.wipe()
            raise
        _zero(self._g)
        self._sid = sid
        self._ad = ad
        self._state = _STARTED
        return self.share

    def finish(self, isk_out: "WriteableBuffer", peer_share, peer_ad) -> None:
        """ISK into isk_out[0:64] from the peer's (share, AD); CPaceAbort if invalid."""
        if self._state != _STARTED:
            raise ValueError("cpace: finish before start")
        if len(isk_out) < ISK_LEN:
            raise ValueError("cpace: ISK buffer")
        self._state = _IDLE
        if len(peer_share) != SHARE_LEN:
            self.wipe()
            raise CPaceAbort("share length")
        self.peer[:] = peer_share
        ok = scalar_mult_vfy_into(self._k, self._y, self.peer)
        _zero(self._y)  # never used again (draft 10.9)
        if not ok:
            self.wipe()
            raise CPaceAbort("low-order share")
        self._peer_ad = peer_ad
        if self.initiator:
            isk_into(isk_out, self._k, self._sid, self.mode,
                     self.share, self._ad, self.peer, peer_ad, self._hash)
        else:
            isk_into(isk_out, self._k, self._sid, self.mode,
                     self.peer, peer_ad, self.share, self._ad, self._hash)
        _zero(self._k)
        self._state = _DONE

    def sid_output_into(self, out: "WriteableBuffer") -> None:
        """The public session id of draft 10.6 (after finish; for runs without sid)."""
        if self._state != _DONE:
            raise ValueError("cpace: sid_output before finish")
        if self.initiator:
            sid_output_into(out, self.mode, self.share, self._ad, self.peer, self._peer_ad,
                            self._hash)
        else:
            sid_output_into(out, self.mode, self.peer, self._peer_ad, self.share, self._ad,
                            self._hash)

    def wipe(self) -> None:
        """Zero every secret buffer and the hash state; the run is over."""
        _zero(self._y)
        _zero(self._g)
        _zero(self._k)
        self._hash.wipe()
        if self._state == _STARTED:
            self._state = _IDLE
