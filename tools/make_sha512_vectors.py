"""Write tests/vectors/sha512.json: SHA-512 vectors for the firmware's own SHA-512.

    python tools/make_sha512_vectors.py [--check]

- nist: the SHA-512 examples of NIST's FIPS 180-4 example documents and its
  SHA-2 test vectors ("abc", the 448-bit and 896-bit two-block messages, the
  empty message, one million "a"), with the published digests, each checked
  here against hashlib;
- random: messages from a fixed seed with CPython's hashlib digests, at every
  length from 0 to 260 bytes (all padding cases: the length field fitting in
  the last block or not, 111/112 and 239/240 included) and some longer ones.
The output is deterministic; --check only compares it with the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "sha512.json"
SEED = 180_4
LONGER = (383, 384, 385, 1000, 1023, 1024, 1025, 4097)

NIST = [
    ("abc", b"abc", 1,
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    ("empty", b"", 1,
     "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
     "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    ("448 bits", b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
     "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"),
    ("896 bits", b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
     b"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 1,
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
     "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
    ("one million a", b"a", 1_000_000,
     "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
     "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"),
]


def build() -> dict:
    nist = []
    for name, unit, repeat, digest in NIST:
        assert hashlib.sha512(unit * repeat).hexdigest() == digest, name
        nist.append({"name": name, "msg": unit.hex(), "repeat": repeat, "digest": digest})
    rnd = random.Random(SEED)
    cases = []
    for n in list(range(261)) + list(LONGER):
        msg = bytes(rnd.getrandbits(8) for _ in range(n))
        cases.append({"msg": msg.hex(), "digest": hashlib.sha512(msg).hexdigest()})
    return {
        "description": (
            "SHA-512 (FIPS 180-4). nist: published examples, msg repeated `repeat` times; "
            "random: seeded messages of every length 0..260 and some longer, digests "
            "from CPython's hashlib (tools/make_sha512_vectors.py)."
        ),
        "nist": nist,
        "random": cases,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = json.dumps(build(), indent=0) + "\n"
    if args.check:
        same = OUT.read_text() == text
        print(f"{OUT.name}: {'up to date' if same else 'DIFFERS'}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
