"""Thin wrappers on ``cryptography`` for suites 1 and 2 (protocol.md section 2).

Every function takes and returns ``bytes``. Failed integrity checks return
``None`` instead of raising, so callers map them to ``AUTH_FAILED`` explicitly;
so does :func:`x25519` for an all-zero result (a low-order point, 3.9).

X25519 key objects of ``cryptography`` are built, used and dropped inside one
call: nothing here keeps a private key. Their copies inside OpenSSL cannot be
overwritten from Python (like the AES key schedules of section 9's erasure
note); callers keep scalars in ``bytearray`` buffers they zero themselves.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes, hmac as _hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

Buf = bytes | bytearray

TAG_LEN = 8
NONCE_LEN = 13  # 15 - L with L = 2


def sha256(data: Buf) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def hmac_sha256(key: Buf, data: Buf) -> bytes:
    h = _hmac.HMAC(bytes(key), hashes.SHA256())
    h.update(data)
    return h.finalize()


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int = 16) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return HKDF.extract(hashes.SHA256(), salt, ikm)


def hkdf_expand(prk: bytes, info: bytes, length: int = 16) -> bytes:
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(prk)


def ccm_seal(key: Buf, nonce: bytes, aad: bytes, pt: bytes) -> bytes:
    """AES-128-CCM, 8-byte tag, L = 2: returns ciphertext || tag."""
    return AESCCM(bytes(key), tag_length=TAG_LEN).encrypt(nonce, pt, aad)


def ccm_open(key: Buf, nonce: bytes, aad: bytes, ct_tag: bytes) -> bytes | None:
    try:
        return AESCCM(bytes(key), tag_length=TAG_LEN).decrypt(nonce, ct_tag, aad)
    except InvalidTag:
        return None


def kw_wrap(kek: Buf, key: Buf) -> bytes:
    """RFC 3394 with the default IV."""
    return aes_key_wrap(bytes(kek), bytes(key))


def kw_unwrap(kek: Buf, wrapped: Buf) -> bytes | None:
    try:
        return aes_key_unwrap(bytes(kek), bytes(wrapped))
    except InvalidUnwrap:
        return None


def ct_equal(a: Buf, b: Buf) -> bool:
    return constant_time.bytes_eq(bytes(a), bytes(b))


X25519_LEN = 32


def x25519_base(scalar: bytes | bytearray) -> bytes:
    """``X25519(scalar, 9)``: the public key of a 32-byte private key (RFC 7748)."""
    return X25519PrivateKey.from_private_bytes(bytes(scalar)).public_key().public_bytes_raw()


def x25519(scalar: bytes | bytearray, u: bytes | bytearray) -> bytes | None:
    """``X25519(scalar, u)``, or None when the result is all zeros (``u`` of low order)."""
    priv = X25519PrivateKey.from_private_bytes(bytes(scalar))
    try:
        return priv.exchange(X25519PublicKey.from_public_bytes(bytes(u)))
    except ValueError:
        return None


def x25519_low_order(u: bytes | bytearray) -> bool:
    """True if ``X25519(k, u)`` is all zeros for every clamped k (u of low order).

    A clamped scalar is 8 times a number below the prime order of either the
    curve's or the twist's large subgroup, so any one scalar tells.
    """
    return x25519(b"\x01" * 32, u) is None
