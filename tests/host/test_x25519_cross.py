"""firmware/ephkey/x25519.py under MicroPython agrees with `cryptography` on fresh inputs.

100 (scalar, u) pairs drawn here (u's top bit set in some, a few u of the
form p + small, which X25519 must take mod p), and the points of small order
with every scalar-independent outcome, go to one MicroPython process as hex
lines on stdin. It answers each one twice, through x25519() and through an
X25519Job run in slices of a budget drawn per line; both hex answers are
compared with OpenSSL's.
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
# Reads "scalar_hex u_hex budget" lines until an empty one; prints one line
# per request: the x25519() answer, a space, the sliced job's answer.
SCRIPT = """
import sys
from ephkey.x25519 import X25519Job, x25519
job = X25519Job()
out = bytearray(32)
for line in sys.stdin:
    line = line.strip()
    if not line:
        break
    k, u, budget = line.split()
    k, u = bytes.fromhex(k), bytes.fromhex(u)
    try:
        whole = x25519(k, u).hex()
    except ValueError:
        whole = "ValueError"
    job.start(out, k, u)
    while not job.step(int(budget)):
        pass
    print(whole, out.hex() if job.ok else "ValueError")
"""


def reference(scalar: bytes, u: bytes) -> str:
    key = X25519PrivateKey.from_private_bytes(scalar)
    try:
        return key.exchange(X25519PublicKey.from_public_bytes(u)).hex()
    except ValueError:
        return "ValueError"


# u of small order (RFC 7748 section 6.1 and the usual list), with bit 255
# set and clear, and non-canonical encodings of them: all give all zeros.
LOW_ORDER = [
    0,
    1,
    0x00B8495F16056286FDB1329CEB8D09DA6AC49FF1FAE35616AEB8413B7C7AEBE0,
    0x57119FD0DD4E22D8868E1C58C45C44045BEF839C55B1D0B1248C50A3BC959C5F,
    P - 1,
    P,
    P + 1,
]


def draw_inputs() -> list[tuple[bytes, bytes]]:
    pairs = []
    for i in range(N):
        scalar = os.urandom(32)
        u = int.from_bytes(os.urandom(32), "little")  # top bit set about half the time
        if i % 25 == 0:
            u = P + 2 + os.urandom(1)[0] % 17  # non-canonical, not of low order
        pairs.append((scalar, u.to_bytes(32, "little")))
    for u in LOW_ORDER:
        for top in (0, 1 << 255):
            pairs.append((os.urandom(32), (u | top).to_bytes(32, "little")))
    return pairs


def test_x25519_under_micropython_matches_cryptography(micropython_bin: str) -> None:
    pairs = draw_inputs()
    budgets = [1 + os.urandom(1)[0] % 64 for _ in pairs]
    stdin = "".join(f"{k.hex()} {u.hex()} {b}\n" for (k, u), b in zip(pairs, budgets, strict=True))
    stdin += "\n"
    proc = subprocess.run(
        [micropython_bin, "-c", SCRIPT],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ, MICROPYPATH="firmware"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = proc.stdout.split("\n")[: len(pairs)]
    assert len(got) == len(pairs), proc.stdout + proc.stderr
    refused = 0
    for (k, u), line in zip(pairs, got, strict=True):
        want = reference(k, u)
        refused += want == "ValueError"
        assert line == f"{want} {want}", f"scalar {k.hex()} u {u.hex()}: {line} != {want}"
    assert refused == 2 * len(LOW_ORDER), "every low-order u (and only those) is refused"
