"""Offline dictionary attacks on recorded pairing traffic (docs/protocol.md 9.4).

    python tools/offline_attack.py --tap-file TAP.jsonl --dictionary CODES.txt

An attacker who recorded the wire, or got one answer from a station, and
holds a dictionary of candidate codes, tests each candidate *offline*: with
no further contact, as fast as it can compute. This module is that attacker,
for two targets:

* :func:`attack_pairing`, device pairing (section 15). For each candidate it
  computes CPace's generator ``g`` from the public inputs (CI, sid from the
  PAIR_HELLO and PAIR_REPLY) and tries every offline test there is:
  (1) ``g`` itself anywhere in the recording (an implementation that leaked
  its generator); (2) every 32-byte window of the recording taken as a
  leaked CPace scalar ``y``: ``K = X25519(y, share)`` must reproduce
  ``tag_s``, and then ``X25519(y, g)`` must equal the share, which names the
  code; (3) scalars handed in as ``leaked`` (the positive control of the
  tests: the machinery finds the code when a scalar is known). Without a
  leak none of these can succeed: ``tag_s`` and ``tag_f`` are keyed by ISK,
  which needs ``K = X25519(y_s, Y_f)``, and the shares are ``X25519(y, g)``
  with scalars that never leave the stations.
* :func:`attack_v1_user_secret`, version 1's user-secret variant:
  ``PS = PBKDF2-HMAC-SHA256(passphrase, "ephkey1 user" || id_f || id_s,
  iterations, 16)`` and a recorded v1 suite-1 SRK frame (the REQ before it
  gives ``n_s`` and TH1). Each candidate costs one PBKDF2, one HKDF and one
  key unwrap, whose integrity check says whether the candidate is PS's
  passphrase. :func:`v1_exchange` builds that REQ and SRK frame as a
  version-1 first station did (v1 spec sections 3.1-3.4 and 8, from the git
  history of docs/protocol.md), so the attack has its recording after
  version 1's code is gone.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))

from ephkey_host import cpace, crypto  # noqa: E402
from ephkey_host.link import LinkDecoder  # noqa: E402
from ephkey_host.pair_device import channel_id, derive, tag  # noqa: E402

# -- device pairing ------------------------------------------------------------------

class Recording:
    """The four pairing frames of one attempt, found by their first byte."""

    def __init__(self, frames: Iterable[bytes]) -> None:
        by_type: dict[int, bytes] = {}
        self.raw = b""
        for f in frames:
            self.raw += f
            if f and f[0] in (0x29, 0x2A, 0x2B, 0x2C) and f[0] not in by_type:
                by_type[f[0]] = bytes(f)
        missing = {0x29, 0x2A, 0x2B} - set(by_type)
        if missing:
            raise ValueError("the recording lacks frame(s) %s" % sorted(missing))
        self.hello, self.reply, self.share = by_type[0x29], by_type[0x2A], by_type[0x2B]
        self.confirm = by_type.get(0x2C)
        self.id_s, self.n_s = self.hello[1:9], self.hello[9:21]
        self.id_f, self.n_f = self.reply[3:11], self.reply[11:23]
        self.y_f, self.y_s = self.reply[23:55], self.share[3:35]
        self.tag_s = self.share[35:51]
        self.ci = channel_id(self.id_s, self.id_f)
        self.sid = self.n_s + self.n_f

    def windows(self) -> set[bytes]:
        return {self.raw[i:i + 32] for i in range(len(self.raw) - 31)}

    def tag_s_with(self, y: bytes, initiator: bool) -> bool:
        """Does ``y``, taken as S's (or F's) CPace scalar, reproduce ``tag_s``?"""
        k = cpace.scalar_mult_vfy(y, self.y_f if initiator else self.y_s)
        if k == cpace.IDENTITY:
            return False
        isk = cpace.isk(self.sid, k, cpace.IR, self.y_s, self.hello, self.y_f, self.reply[0:23])
        keys = derive(isk, self.id_f, self.id_s)
        return crypto.ct_equal(tag(keys.kc_s, self.hello + self.reply + self.share[0:35]),
                               self.tag_s)


def attack_pairing(frames: Iterable[bytes], dictionary: Sequence[str],
                   leaked: Sequence[bytes] = ()) -> list[str]:
    """The candidates of ``dictionary`` that an offline test confirms."""
    rec = Recording(frames)
    windows = rec.windows()
    # scalars that reproduce tag_s: from the recording itself, or handed in
    scalars = []
    for y in list(leaked) + sorted(windows):
        for initiator in (True, False):
            if rec.tag_s_with(y, initiator):
                scalars.append((y, rec.y_s if initiator else rec.y_f))
    found = []
    for code in dictionary:
        g = cpace.calculate_generator(code.encode(), rec.ci, rec.sid)
        if g in windows or any(cpace.scalar_mult(y, g) == share for y, share in scalars):
            found.append(code)
    return found


# -- version 1's user secret -------------------------------------------------------------

V1_ITERATIONS = 1000  # v1 left the count to the deployment; its host tests used 1000


def v1_user_ps(passphrase: str, id_f: bytes, id_s: bytes,
               iterations: int = V1_ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), b"ephkey1 user" + id_f + id_s,
                               iterations, 16)


def _hkdf16(salt: bytes, ikm: bytes, info: bytes) -> bytes:
    """RFC 5869 HKDF-SHA256 with L = 16 (one block), as v1 wrote ``HKDF(...)``."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:16]


def _v1_kek2(ps: bytes, req: bytes, srk_frame: bytes) -> bytes:
    n_s, n_f = req[15:31], srk_frame[7:23]
    th1 = hashlib.sha256(req).digest()
    return _hkdf16(n_s + n_f, ps, b"ephkey1 srk" + th1 + srk_frame[0:25])


def v1_exchange(passphrase: str, id_f: bytes, id_s: bytes, rng: Callable[[int], bytes],
                iterations: int = V1_ITERATIONS) -> tuple[bytes, bytes]:
    """(REQ, SRK frame) of a version-1 suite-1 handshake with a passphrase PS.

    v1 header: ver 1, type, suite, u32 sid (3.1); REQ: header, id_s, 16-byte
    n_s, offer (3.3); SRK: header, 16-byte n_f, u16 interval, wrapped SRK
    under KEK2 = HKDF(n_s || n_f, PS, "ephkey1 srk" || TH1 || SRK[0:25]) (3.4).
    """
    req = bytes([1, 1, 0, 0, 0, 0, 0]) + id_s + rng(16) + bytes([1])
    sid = int.from_bytes(rng(4), "big") & 0x3FFFFFFF or 1
    head = bytes([1, 2, 1]) + sid.to_bytes(4, "big") + rng(16) + (7).to_bytes(2, "big")
    srk = rng(16)
    ps = v1_user_ps(passphrase, id_f, id_s, iterations)
    return req, head + aes_key_wrap(_v1_kek2(ps, req, head), srk)


def attack_v1_user_secret(req: bytes, srk_frame: bytes, id_f: bytes, dictionary: Sequence[str],
                          iterations: int = V1_ITERATIONS) -> list[str]:
    """The candidates whose PBKDF2 PS unwraps the recorded SRK frame."""
    id_s = req[7:15]
    found = []
    for code in dictionary:
        kek2 = _v1_kek2(v1_user_ps(code, id_f, id_s, iterations), req, srk_frame)
        try:
            aes_key_unwrap(kek2, srk_frame[25:49])
        except InvalidUnwrap:
            continue
        found.append(code)
    return found


# -- a linksim tap as input ----------------------------------------------------------------

def frames_of_tap(lines: Iterable[str]) -> list[bytes]:
    """The frames of a tools/linksim.py tap (JSON lines), both directions."""
    dec = {"AB": LinkDecoder(276), "BA": LinkDecoder(276)}
    out: list[bytes] = []
    for line in lines:
        rec = json.loads(line)
        if rec.get("type") == "data":
            out += dec[rec["dir"]].feed(bytes.fromhex(rec["hex"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tap-file", required=True, help="a linksim tap (JSON lines) of a pairing")
    ap.add_argument("--dictionary", required=True, help="candidate codes, one per line")
    args = ap.parse_args(argv)
    frames = frames_of_tap(Path(args.tap_file).read_text().splitlines())
    codes = [c.strip() for c in Path(args.dictionary).read_text().splitlines() if c.strip()]
    found = attack_pairing(frames, codes)
    print("offline attack: %d candidates tested, %d confirmed%s"
          % (len(codes), len(found), (": " + ", ".join(found)) if found else ""))
    return 0 if not found else 1


if __name__ == "__main__":
    sys.exit(main())
