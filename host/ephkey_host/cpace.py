"""CPace with ciphersuite CPACE-X25519-SHA512, written from draft-irtf-cfrg-cpace-21.

The host's own implementation (it shares only the draft and the vectors in
tests/vectors/cpace.json with the firmware): the draft's appendix functions
on bytes (prepend_len, lv_cat, o_cat, generator_string, the transcripts),
Elligator 2 as the draft's appendix A.5 writes it (Legendre symbol by
Euler's criterion, Python's pow), hashlib's SHA-512, and `cryptography`'s
X25519 for scalar multiplication.

Identity check. G_X25519.scalar_mult_vfy must return G.I (32 zero bytes)
when X25519's output is all zeros, and CPace must then abort. `cryptography`
(OpenSSL) refuses to return an all-zero X25519 output: ``exchange`` raises
ValueError ("Error computing shared key.") instead. scalar_mult_vfy maps
that ValueError to G.I and also checks the bytes it gets for all zeros, so
either behaviour of the library ends in CPaceAbort.

Roles: ``CPace(initiator=True)`` is party A of the draft (its share and AD
come first in the IR transcript); the OC transcript orders the two messages
by value and needs no roles.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

IR = 0  # transcript_ir: initiator-responder
OC = 1  # transcript_oc: ordered concatenation (symmetric setting)

DSI = b"CPace255"
FIELD_SIZE_BYTES = 32
FIELD_SIZE_BITS = 255
S_IN_BYTES = 128  # SHA-512 input block size
IDENTITY = bytes(FIELD_SIZE_BYTES)  # G_X25519.I

P = 2**255 - 19
A = 486662
Z = 2  # non-square used by Elligator 2 on Curve25519 (draft A.5, RFC 9380)


class CPaceAbort(Exception):
    """A received share is invalid: the run ends without a key."""


# -------------------------------------------------------------- string utilities (A.1-A.3)


def prepend_len(data: bytes) -> bytes:
    length = len(data)
    encoded = b""
    while True:
        if length < 128:
            encoded += bytes([length])
        else:
            encoded += bytes([(length & 0x7F) + 0x80])
        length >>= 7
        if length == 0:
            break
    return encoded + data


def lv_cat(*args: bytes) -> bytes:
    return b"".join(prepend_len(a) for a in args)


def lexiographically_larger(bytes1: bytes, bytes2: bytes) -> bool:
    for x, y in zip(bytes1, bytes2, strict=False):  # up to the shorter one
        if x != y:
            return x > y
    return len(bytes1) > len(bytes2)


def o_cat(bytes1: bytes, bytes2: bytes) -> bytes:
    if lexiographically_larger(bytes1, bytes2):
        return b"oc" + bytes1 + bytes2
    return b"oc" + bytes2 + bytes1


def transcript_ir(ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    return lv_cat(ya, ada) + lv_cat(yb, adb)


def transcript_oc(ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    return o_cat(lv_cat(ya, ada), lv_cat(yb, adb))


def transcript(mode: int, ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    if mode == IR:
        return transcript_ir(ya, ada, yb, adb)
    if mode == OC:
        return transcript_oc(ya, ada, yb, adb)
    raise ValueError(f"CPace transcript mode {mode!r}")


def generator_string(dsi: bytes, prs: bytes, ci: bytes, sid: bytes, s_in_bytes: int) -> bytes:
    len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(prs)) - len(prepend_len(dsi)))
    return lv_cat(dsi, prs, bytes(len_zpad), ci, sid)


def h_hash(m: bytes, length: int = 64) -> bytes:
    """H.hash(m, l) for H = SHA-512: the first l bytes of the digest."""
    return hashlib.sha512(m).digest()[:length]


# -------------------------------------------------------------- G_X25519 (8.2, A.4, A.5)


def decode_u_coordinate(u: bytes, bits: int = FIELD_SIZE_BITS) -> int:
    if len(u) != (bits + 7) // 8:
        raise ValueError("u-coordinate length")
    u_list = list(u)
    if bits % 8:
        u_list[-1] &= (1 << (bits % 8)) - 1
    return sum(b << (8 * i) for i, b in enumerate(u_list))


def encode_u_coordinate(u: int, bits: int = FIELD_SIZE_BITS) -> bytes:
    return bytes((u >> (8 * i)) & 0xFF for i in range((bits + 7) // 8))


def elligator2(r: int) -> bytes:
    """The draft's A.5 map: field element r -> encoded u-coordinate on Curve25519."""
    r %= P
    v = (-A * pow(1 + Z * r * r, P - 2, P)) % P
    epsilon = pow((v * v * v + A * v * v + v) % P, (P - 1) // 2, P)
    # epsilon is 1, 0 or -1 (P - 1); x = epsilon * v - (1 - epsilon) * A / 2
    x = (epsilon * v - (1 - epsilon) * A * pow(2, P - 2, P)) % P
    return encode_u_coordinate(x)


def calculate_generator(prs: bytes, ci: bytes, sid: bytes) -> bytes:
    gen_str = generator_string(DSI, prs, ci, sid, S_IN_BYTES)
    gen_str_hash = h_hash(gen_str, FIELD_SIZE_BYTES)
    return elligator2(decode_u_coordinate(gen_str_hash))


def sample_scalar(rng: Callable[[int], bytes]) -> bytes:
    y = bytes(rng(FIELD_SIZE_BYTES))
    if len(y) != FIELD_SIZE_BYTES:
        raise ValueError(f"rng gave {len(y)} bytes, not {FIELD_SIZE_BYTES}")
    return y


def scalar_mult_vfy(y: bytes, g: bytes) -> bytes:
    """X25519(y, g), or IDENTITY where X25519's output is all zeros."""
    if len(y) != FIELD_SIZE_BYTES or len(g) != FIELD_SIZE_BYTES:
        raise ValueError("X25519 inputs are 32 bytes")
    key = X25519PrivateKey.from_private_bytes(y)
    try:
        k = key.exchange(X25519PublicKey.from_public_bytes(g))
    except ValueError:  # OpenSSL's answer to an all-zero shared secret
        return IDENTITY
    return IDENTITY if hmac.compare_digest(k, IDENTITY) else k


def scalar_mult(y: bytes, g: bytes) -> bytes:
    return scalar_mult_vfy(y, g)


def isk(sid: bytes, k: bytes, mode: int, ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    return h_hash(lv_cat(DSI + b"_ISK", sid, k) + transcript(mode, ya, ada, yb, adb))


def sid_output(mode: int, ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    return h_hash(b"CPaceSidOutput" + transcript(mode, ya, ada, yb, adb))


# -------------------------------------------------------------- one party (7.2)


class CPace:
    """One party: ``start`` returns the share to send with ``ad``; ``finish``
    takes the peer's share and AD and returns the ISK (64 bytes)."""

    def __init__(self, initiator: bool, mode: int = IR) -> None:
        if mode not in (IR, OC):
            raise ValueError(f"CPace transcript mode {mode!r}")
        self.initiator = initiator
        self.mode = mode
        self.share = b""
        self._y: bytes | None = None
        self._sid = b""
        self._ad = b""
        self._transcript_args: tuple[bytes, bytes, bytes, bytes] | None = None

    def start(
        self, prs: bytes, ci: bytes, sid: bytes, ad: bytes, rng: Callable[[int], bytes]
    ) -> bytes:
        g = calculate_generator(prs, ci, sid)
        self._y = sample_scalar(rng)
        self.share = scalar_mult(self._y, g)
        self._sid, self._ad = bytes(sid), bytes(ad)
        self._transcript_args = None
        return self.share

    def finish(self, peer_share: bytes, peer_ad: bytes) -> bytes:
        y, self._y = self._y, None  # a scalar serves one run only
        if y is None:
            raise ValueError("CPace.finish before start")
        if len(peer_share) != FIELD_SIZE_BYTES:
            raise CPaceAbort(f"share of {len(peer_share)} bytes")
        k = scalar_mult_vfy(y, bytes(peer_share))
        if k == IDENTITY:
            raise CPaceAbort("share is a low-order point")
        if self.initiator:
            args = (self.share, self._ad, bytes(peer_share), bytes(peer_ad))
        else:
            args = (bytes(peer_share), bytes(peer_ad), self.share, self._ad)
        self._transcript_args = args
        return isk(self._sid, k, self.mode, *args)

    def sid_output(self) -> bytes:
        if self._transcript_args is None:
            raise ValueError("CPace.sid_output before finish")
        return sid_output(self.mode, *self._transcript_args)
