"""firmware/ephkey/x25519.py under MicroPython agrees with `cryptography` on fresh inputs.

100 (scalar, u) pairs drawn here (u's top bit set in some, a few u of the
form p + small, which X25519 must take mod p) go to one MicroPython process
as hex lines on stdin; its hex answers are compared with OpenSSL's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
P = 2**255 - 19
N = 100

# Reads "scalar_hex u_hex" lines until an empty one; prints one result per line.
SCRIPT = """
import sys
from ephkey.x25519 import x25519
for line in sys.stdin:
    line = line.strip()
    if not line:
        break
    k, u = line.split()
    try:
        print(x25519(bytes.fromhex(k), bytes.fromhex(u)).hex())
    except ValueError as e:
        print("ValueError", e)
"""


def reference(scalar: bytes, u: bytes) -> str:
    key = X25519PrivateKey.from_private_bytes(scalar)
    try:
        return key.exchange(X25519PublicKey.from_public_bytes(u)).hex()
    except ValueError:
        return "ValueError"


def draw_inputs() -> list[tuple[bytes, bytes]]:
    pairs = []
    for i in range(N):
        scalar = os.urandom(32)
        u = int.from_bytes(os.urandom(32), "little")  # top bit set about half the time
        if i % 25 == 0:
            u = P + 2 + os.urandom(1)[0] % 17  # non-canonical, not of low order
        pairs.append((scalar, u.to_bytes(32, "little")))
    return pairs


def test_x25519_under_micropython_matches_cryptography(micropython_bin: str) -> None:
    pairs = draw_inputs()
    stdin = "".join(f"{k.hex()} {u.hex()}\n" for k, u in pairs) + "\n"
    proc = subprocess.run(
        [micropython_bin, "-c", SCRIPT],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ, MICROPYPATH="firmware"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = proc.stdout.split("\n")[:N]
    assert len(got) == N, proc.stdout + proc.stderr
    for (k, u), line in zip(pairs, got, strict=True):
        want = reference(k, u)
        if want == "ValueError":  # only for a low-order u: not expected at random
            assert line.startswith("ValueError"), (k.hex(), u.hex(), line)
        else:
            assert line == want, f"scalar {k.hex()} u {u.hex()}: {line} != {want}"
