"""HMAC-SHA256 (RFC 2104), HKDF-SHA256 (RFC 5869) and a constant-time
compare, on hashlib: device pairing's key derivation (pairing.py). They
return new bytes (they allocate); the stations' handshake uses mac.Mac,
which writes into buffers of its own.
"""

import hashlib

from micropython import const

from . import mac

TYPE_CHECKING = False
if TYPE_CHECKING:
    from circuitpython_typing import ReadableBuffer

_KDF_MAX = const(8160)  # 255 * 32: the most HKDF-SHA256 can expand
_ZERO32 = bytes(32)
_IPAD = b"\x36" * 64
_OPAD = b"\x5c" * 64


def sha256(data: ReadableBuffer) -> bytes:
    return hashlib.sha256(data).digest()


def hmac_sha256(key: ReadableBuffer, msg: ReadableBuffer) -> bytes:
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    pad = bytearray(_IPAD)
    mac.xor(pad, 0, pad, 0, key, 0, len(key))
    h = hashlib.sha256(pad)
    h.update(msg)
    inner = h.digest()
    pad[:] = _OPAD
    mac.xor(pad, 0, pad, 0, key, 0, len(key))
    h = hashlib.sha256(pad)
    h.update(inner)
    mac.zero(pad, 0, 64)
    return h.digest()


def hkdf_extract(salt: ReadableBuffer, ikm: ReadableBuffer) -> bytes:
    if salt is None or not len(salt):
        salt = _ZERO32
    return hmac_sha256(salt, ikm)


def hkdf_expand(prk: ReadableBuffer, info: ReadableBuffer, length: int) -> bytes:
    if not 0 <= length <= _KDF_MAX:
        raise ValueError("length")
    okm = bytearray()
    t = b""
    i = 1
    while len(okm) < length:
        m = bytearray(t)
        m.extend(info)
        m.append(i)
        t = hmac_sha256(prk, m)
        okm.extend(t)
        i += 1
    return bytes(okm[:length])


def hkdf_sha256(salt: ReadableBuffer, ikm: ReadableBuffer, info: ReadableBuffer,
                length: int) -> bytes:
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def ct_equal(a: ReadableBuffer, b: ReadableBuffer) -> bool:
    """Equal-length inputs take the same time whatever they hold."""
    if len(a) != len(b):
        return False
    return mac.diff(a, 0, b, 0, len(a)) == 0
