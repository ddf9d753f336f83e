"""Thin wrappers on ``cryptography`` for suite 1 (protocol.md section 2).

Every function takes and returns ``bytes``. Failed integrity checks return
``None`` instead of raising, so callers map them to ``AUTH_FAILED`` explicitly.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes, hmac as _hmac
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

TAG_LEN = 8
NONCE_LEN = 13  # 15 - L with L = 2


def sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = _hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int = 16) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return HKDF.extract(hashes.SHA256(), salt, ikm)


def hkdf_expand(prk: bytes, info: bytes, length: int = 16) -> bytes:
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(prk)


def pbkdf2_sha256(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt, iterations=iterations)
    return kdf.derive(password)


def ccm_seal(key: bytes, nonce: bytes, aad: bytes, pt: bytes) -> bytes:
    """AES-128-CCM, 8-byte tag, L = 2: returns ciphertext || tag."""
    return AESCCM(bytes(key), tag_length=TAG_LEN).encrypt(nonce, pt, aad)


def ccm_open(key: bytes, nonce: bytes, aad: bytes, ct_tag: bytes) -> bytes | None:
    try:
        return AESCCM(bytes(key), tag_length=TAG_LEN).decrypt(nonce, ct_tag, aad)
    except InvalidTag:
        return None


def kw_wrap(kek: bytes, key: bytes) -> bytes:
    """RFC 3394 with the default IV."""
    return aes_key_wrap(bytes(kek), bytes(key))


def kw_unwrap(kek: bytes, wrapped: bytes) -> bytes | None:
    try:
        return aes_key_unwrap(bytes(kek), wrapped)
    except InvalidUnwrap:
        return None


def ct_equal(a: bytes, b: bytes) -> bool:
    return constant_time.bytes_eq(bytes(a), bytes(b))
