"""tests/vectors/primitives.json holds what it claims: every vector checked with `cryptography`.

The firmware tests trust this file, so it is itself checked against OpenSSL:
AESCCM for RFC 3610, aes_key_wrap/unwrap for RFC 3394, HKDF (and the PRK
through HMAC) for RFC 5869, HMAC for RFC 4231.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "primitives.json"


def load() -> dict[str, list[dict[str, Any]]]:
    with VECTORS.open() as f:
        data: dict[str, list[dict[str, Any]]] = json.load(f)
    return data


def cases(kind: str) -> list[Any]:
    return [pytest.param(v, id=v.get("source", str(i))) for i, v in enumerate(load()[kind])]


def b(v: dict[str, Any], field: str) -> bytes:
    return bytes.fromhex(v[field])


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def test_file_has_every_kind() -> None:
    data = load()
    assert len(data["ccm"]) >= 6 and len(data["kw"]) >= 1
    assert len(data["hkdf"]) == 3 and len(data["hmac"]) == 7
    # Suite 1 is CCM with 8-byte tags and 13-byte nonces: make sure those are covered.
    assert any(v["tag_len"] == 8 and len(b(v, "nonce")) == 13 for v in data["ccm"])
    assert any(len(b(v, "kek")) == 16 for v in data["kw"])


@pytest.mark.parametrize("v", cases("ccm"))
def test_ccm(v: dict[str, Any]) -> None:
    ccm = AESCCM(b(v, "key"), tag_length=v["tag_len"])
    assert ccm.encrypt(b(v, "nonce"), b(v, "pt"), b(v, "aad")) == b(v, "ct")
    assert ccm.decrypt(b(v, "nonce"), b(v, "ct"), b(v, "aad")) == b(v, "pt")
    assert len(b(v, "ct")) == len(b(v, "pt")) + v["tag_len"]


@pytest.mark.parametrize("v", cases("kw"))
def test_key_wrap(v: dict[str, Any]) -> None:
    assert aes_key_wrap(b(v, "kek"), b(v, "key")) == b(v, "wrapped")
    assert aes_key_unwrap(b(v, "kek"), b(v, "wrapped")) == b(v, "key")


@pytest.mark.parametrize("v", cases("hkdf"))
def test_hkdf(v: dict[str, Any]) -> None:
    salt = b(v, "salt")
    okm = HKDF(hashes.SHA256(), v["length"], salt or None, b(v, "info")).derive(b(v, "ikm"))
    assert okm == b(v, "okm")
    assert len(okm) == v["length"]
    # RFC 5869: an absent salt is HashLen zero bytes.
    assert hmac_sha256(salt or bytes(32), b(v, "ikm")) == b(v, "prk")
    assert HKDFExpand(hashes.SHA256(), v["length"], b(v, "info")).derive(b(v, "prk")) == okm


@pytest.mark.parametrize("v", cases("hmac"))
def test_hmac(v: dict[str, Any]) -> None:
    mac = b(v, "mac")
    # RFC 4231 case 5 publishes only the first 128 bits: a stored MAC is a prefix.
    assert len(mac) in (16, 32)
    assert hmac_sha256(b(v, "key"), b(v, "data"))[: len(mac)] == mac
