"""Write tests/vectors/x25519.json: X25519 vectors checked against `cryptography`.

    python tools/make_x25519_vectors.py [--check]

Every value is computed or verified here with `cryptography` (OpenSSL):
the RFC 7748 section 5.2 vectors, its iterated test after 1 and 1,000
iterations, the section 6.1 Diffie-Hellman example, the u-coordinates of
small order (derived below, each checked to give an all-zero secret that
`cryptography` refuses), and 50 random (scalar, u, out) triples from a fixed
seed, some with u's top bit set or u non-canonical (p <= u mod 2**255 < 2**255).
The output is deterministic; --check only compares it with the file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "x25519.json"
P = 2**255 - 19
SEED = 7748
N_RANDOM = 50

# RFC 7748 section 5.2 (the second u has its top bit set: it must be masked)
RFC_5_2 = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
]
RFC_ITERATED = {
    1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
    1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
}
RFC_6_1 = {
    "alice_private": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "alice_public": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    "bob_private": "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "bob_public": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    "shared": "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
}


def x25519(scalar: bytes, u: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(scalar)
    return key.exchange(X25519PublicKey.from_public_bytes(u))


def public(scalar: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(scalar).public_key().public_bytes_raw()


def le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def sqrt_mod_p(a: int) -> int:
    """A square root mod p (p = 5 mod 8), or ValueError if a is no square."""
    r = pow(a, (P + 3) // 8, P)
    if r * r % P != a % P:
        r = r * pow(2, (P - 1) // 4, P) % P
    if r * r % P != a % P:
        raise ValueError("not a square")
    return r


def small_order_us() -> list[int]:
    """u of the points of order 1, 2, 4, 8 on the curve and its twist (mod p).

    Order 2: u = 0. Order 4: 2P = (0, 0) means u**2 = 1, so u = 1 or p - 1.
    Order 8: u(2P) = (u**2 - 1)**2 / (4u(u**2 + A u + 1)) = 1 is palindromic:
    with w = u + 1/u it reads w**2 - 4w - 4(A + 1) = 0, then u**2 - w u + 1 = 0.
    (Order 1, the point at infinity, has no affine u.)
    """
    a = 486662
    us = {0, 1, P - 1}
    root = sqrt_mod_p(a + 2)  # the discriminant of w's equation is 16(A + 2)
    for w in ((2 + 2 * root) % P, (2 - 2 * root) % P):
        try:
            s = sqrt_mod_p(w * w - 4)
        except ValueError:
            continue  # no u in GF(p) for this w
        inv2 = pow(2, P - 2, P)
        us.update({(w + s) * inv2 % P, (w - s) * inv2 % P})
    return sorted(us)


def refuses(scalar: bytes, u: bytes) -> bool:
    try:
        x25519(scalar, u)
    except ValueError:
        return True
    return False


def build() -> dict:
    rfc = []
    for i, (k_hex, u_hex, out_hex) in enumerate(RFC_5_2, 1):
        assert x25519(bytes.fromhex(k_hex), bytes.fromhex(u_hex)).hex() == out_hex, i
        rfc.append(
            {"source": f"RFC 7748 5.2 vector {i}", "scalar": k_hex, "u": u_hex, "out": out_hex}
        )

    k = u = le(9)
    after = {}
    for i in range(1, max(RFC_ITERATED) + 1):
        k, u = x25519(k, u), k
        if i in RFC_ITERATED:
            assert k.hex() == RFC_ITERATED[i], f"RFC iterated {i}"
            after[str(i)] = k.hex()

    dh = dict(RFC_6_1)
    a, b = bytes.fromhex(dh["alice_private"]), bytes.fromhex(dh["bob_private"])
    assert public(a).hex() == dh["alice_public"]
    assert public(b).hex() == dh["bob_public"]
    assert x25519(a, bytes.fromhex(dh["bob_public"])).hex() == dh["shared"]
    assert x25519(b, bytes.fromhex(dh["alice_public"])).hex() == dh["shared"]

    # Each also non-canonical (+ p where that stays below 2**255) and with the
    # top bit set: all must give zeros, and `cryptography` must refuse them.
    low = []
    for n in small_order_us():
        for v in (n, n + P, n + 2**255):
            if v == n + P and v >= 2**255:
                continue  # n + p is a second encoding only for n < 19
            enc = le(v)
            assert all(refuses(bytes([s]) * 32, enc) for s in (1, 0x55, 0xFF)), hex(v)
            low.append(enc.hex())

    rng = random.Random(SEED)
    rand = []
    for i in range(N_RANDOM):
        scalar = rng.randbytes(32)
        n = int.from_bytes(rng.randbytes(32), "little") & (2**255 - 1)
        if i % 10 == 7:
            n = P + rng.randrange(2, 19)  # non-canonical: p <= u < 2**255
        if i % 3 == 0:
            n |= 2**255  # the top bit, which X25519 ignores
        out = x25519(scalar, le(n))
        rand.append({"scalar": scalar.hex(), "u": le(n).hex(), "out": out.hex()})
    assert sum(int(r["u"][-2:], 16) >= 0x80 for r in rand) >= N_RANDOM // 3

    return {
        "description": (
            "X25519 (RFC 7748), all values 32-byte little-endian hex, every one checked "
            "with the `cryptography` package by tools/make_x25519_vectors.py. iterated: "
            "k = u = 9, then (k, u) = (X25519(k, u), k), the result k after n iterations. "
            "low_order: u values (some non-canonical or with the top bit set) of points "
            "of small order; X25519 with any scalar gives all zeros and must be refused."
        ),
        "rfc7748": rfc,
        "iterated": {"source": "RFC 7748 5.2", "k": le(9).hex(), "u": le(9).hex(), "after": after},
        "dh": {"source": "RFC 7748 6.1", **dh},
        "low_order": low,
        "random": {"source": f"random.Random({SEED}), cryptography X25519", "cases": rand},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run tools/make_x25519_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
