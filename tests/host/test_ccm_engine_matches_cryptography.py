"""firmware/ephkey/crypto.py under MicroPython agrees with `cryptography`'s AESCCM.

Fresh random inputs go to one MicroPython process as hex lines on stdin:
- CcmEngine.seal with 8-byte tags (suite 1), AAD of 12 bytes (a protected
  frame's header) or 7 (any header), payloads from 0 to 300 bytes;
- CcmEngine.open of AESCCM's output, as is and with one bit flipped;
- the test-side reference ccm_encrypt (tests/firmware/ccm_ref.py) with every
  nonce length (7..13) and tag length (4..16);
- protected frames through ephkey.channel (version 2: 8-byte header and the
  nonce built from the fields, spec 3.7), at every start offset of the
  frame buffer, opened back.
Its hex answers are compared with OpenSSL's (the frame's nonce and header
built here from the spec, not from firmware code).
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
N = 60

# One request per line: "seal key nonce aad pt" | "open key nonce aad ct_tag" |
# "ccm tag_len key nonce aad pt", each byte string as "x" + hex so that an
# empty one is still a field; an empty line ends. One answer line per request.
SCRIPT = """
import sys
from ephkey import channel
from ephkey.crypto import CcmEngine, CcmKey
from ccm_ref import ccm_encrypt
e = CcmEngine(300, 12)
ck = CcmKey()
buf = bytearray(12 + 300 + 8)
out = bytearray(300)
frames = memoryview(bytearray(3 + 12 + 300 + 8))
last = None
for line in sys.stdin:
    f = line.split()
    if not f:
        break
    if f[0] == "frame":
        k, p = bytes.fromhex(f[1][1:]), bytes.fromhex(f[2][1:])
        ftype, sid, d, kidx, seq, off = (int(x) for x in f[3:])
        ck.load(k)
        fb = frames[off:]
        m = channel.seal(e, ck, None, fb, ftype, sid, d, kidx, seq, p, len(p))
        frame = bytes(fb[:m])
        ck.load(k)  # a fresh chain: open as the peer would
        n = channel.open_(e, ck, None, fb, m, sid, d, kidx, seq, out)
        print(frame.hex(), n, bytes(out[:max(n, 0)]).hex())
        continue
    if f[0] == "ccm":
        k, n, a, p = (bytes.fromhex(x[1:]) for x in f[2:])
        print(ccm_encrypt(k, n, a, p, int(f[1])).hex())
        continue
    k, n, a, d = (bytes.fromhex(x[1:]) for x in f[1:])
    if k != last:  # a key's seal, open and tampered open share its CBC chain
        ck.load(k)
        last = k
    buf[:len(a)] = a
    if f[0] == "seal":
        m = e.seal(ck, n, buf, len(a), d, len(d), 8)
        print(bytes(buf[len(a):m]).hex())
    else:
        buf[len(a):len(a) + len(d)] = d
        r = e.open(ck, n, buf, len(a), len(a) + len(d), out, 8)
        print(r, bytes(out[:max(r, 0)]).hex())
"""


def x(b: bytes) -> str:
    return "x" + b.hex()


def draw(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def payload_len(rng: random.Random, i: int) -> int:
    edges = (0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 300)
    return edges[i] if i < len(edges) else rng.randrange(301)


def run(micropython_bin: str, lines: list[str]) -> list[str]:
    proc = subprocess.run(
        [micropython_bin, "-c", SCRIPT],
        input="".join(line + "\n" for line in lines) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ,
                 MICROPYPATH=f"{REPO_ROOT / 'firmware'}:{REPO_ROOT / 'tests' / 'firmware'}"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answers = proc.stdout.splitlines()
    assert len(answers) == len(lines), proc.stdout + proc.stderr
    return answers


def test_engine_and_ccm_encrypt_match_aesccm(micropython_bin: str) -> None:
    seed = int.from_bytes(os.urandom(8), "big")
    rng = random.Random(seed)
    lines: list[str] = []
    expect: list[str] = []
    for i in range(N):
        key, nonce = draw(rng, 16), draw(rng, 13)
        aad = draw(rng, 12 if i % 2 else 7)
        pt = draw(rng, payload_len(rng, i))
        ct = AESCCM(key, tag_length=8).encrypt(nonce, pt, aad)
        lines.append(f"seal {x(key)} {x(nonce)} {x(aad)} {x(pt)}")
        expect.append(ct.hex())
        lines.append(f"open {x(key)} {x(nonce)} {x(aad)} {x(ct)}")
        expect.append(f"{len(pt)} {pt.hex()}")
        bad = bytearray(ct)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        lines.append(f"open {x(key)} {x(nonce)} {x(aad)} {x(bytes(bad))}")
        expect.append("-1")
    for nlen in range(7, 14):
        for tag_len in range(4, 17, 2):
            key, nonce = draw(rng, 16), draw(rng, nlen)
            aad, pt = draw(rng, rng.randrange(40)), draw(rng, rng.randrange(80))
            ct = AESCCM(key, tag_length=tag_len).encrypt(nonce, pt, aad)
            lines.append(f"ccm {tag_len} {x(key)} {x(nonce)} {x(aad)} {x(pt)}")
            expect.append(ct.hex())
    for i in range(N):
        key = draw(rng, 16)
        pt = draw(rng, payload_len(rng, i))
        ftype, d = rng.choice((5, 6, 7, 8)), rng.choice((1, 2))
        sid, kidx, seq = rng.randrange(1, 1 << 16), rng.randrange(256), rng.randrange(1 << 30)
        # version 2 (3.7): ver/type, u16 sid, kidx, u32 seq
        hdr = bytes((0x20 | ftype,)) + sid.to_bytes(2, "big") + bytes((kidx,))
        hdr += seq.to_bytes(4, "big")
        nonce = sid.to_bytes(4, "big") + bytes((d, kidx, 0, 0, 0)) + seq.to_bytes(4, "big")
        ct = AESCCM(key, tag_length=8).encrypt(nonce, pt, hdr)
        fields = f"{ftype} {sid} {d} {kidx} {seq} {i % 4}"
        lines.append(f"frame {x(key)} {x(pt)} {fields}")
        expect.append(f"{(hdr + ct).hex()} {len(pt)} {pt.hex()}")
    answers = run(micropython_bin, lines)
    for request, want, got in zip(lines, expect, answers, strict=True):
        assert got.rstrip() == want.rstrip(), f"seed {seed}: {request}"
