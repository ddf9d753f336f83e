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
* :func:`attack_suite3`, suite 3 (section 15.10): the user's secret enters
  only CPace inside the session handshake. Given F's SRK frame for one forged
  REQ, or a whole recorded suite-3 handshake, it computes each candidate's
  generator from the public inputs (CI = lv_cat("ephkey v2 s3", id_s, id_f),
  sid = n_s || n_f) and tries the same tests as for pairing: ``g`` in the
  recording; every 32-byte window (or a ``leaked`` scalar) as F's or S's
  scalar, kept if it reproduces PROOF's ``t`` (when there is a PROOF), then
  ``X25519(y, g)`` against the share it belongs to. ``t``, ``c`` and KEY are
  keyed through ISK, which needs K, which needs a scalar.
* :func:`attack_derived_ps`, the control for version 2: a PS derived from the
  user's secret by PBKDF2 (what section 8 forbids) used in suite 1 or 2, and
  F's SRK frame for one forged REQ: each candidate costs one PBKDF2 and one
  HKDF, then the unwrap (suite 1) or ``auth`` (suite 2) says yes or no.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))

from ephkey_host import cpace, crypto, keyschedule as ks  # noqa: E402
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


# -- suite 3: the user's secret through CPace (15.10) ------------------------------------

class Suite3Recording:
    """A suite-3 handshake's frames, found by first byte and length: REQ, the
    80-byte SRK frame and, if recorded, the 91-byte PROOF."""

    def __init__(self, frames: Iterable[bytes], id_f: bytes) -> None:
        frames = [bytes(f) for f in frames]
        self.raw = b"".join(frames)
        req = [f for f in frames if len(f) == 22 and f[0] == 0x21]
        srk = [f for f in frames if len(f) == 80 and f[0] == 0x22 and f[3] == 3]
        proof = [f for f in frames if len(f) == 91 and f[0] == 0x23]
        if not req or not srk:
            raise ValueError("the recording lacks a REQ or a suite-3 SRK frame")
        self.req, self.srk = req[0], srk[0]
        self.proof = proof[0] if proof else None
        self.id_f, self.id_s, self.n_s, self.n_f = id_f, self.req[1:9], self.req[9:21], \
            self.srk[4:16]
        self.y_f = self.srk[48:80]
        self.y_s = self.proof[3:35] if self.proof else None
        self.ci = ks.ci3(self.id_s, id_f)
        self.sid = self.n_s + self.n_f

    def windows(self) -> set[bytes]:
        return {self.raw[i:i + 32] for i in range(len(self.raw) - 31)}

    def t_with(self, y: bytes, of_s: bool) -> bool:
        """Does ``y``, as S's (or F's) CPace scalar, reproduce PROOF's ``t``?"""
        assert self.proof is not None and self.y_s is not None
        k = cpace.scalar_mult_vfy(y, self.y_f if of_s else self.y_s)
        if k == cpace.IDENTITY:
            return False
        isk = ks.isk_s3(self.n_s, self.n_f, k, self.y_s, self.req, self.y_f, self.srk)
        th2 = ks.th2(ks.th1(self.req), self.srk)
        kp = ks.kp(ks.prk_s3(th2, isk), 3, th2)
        return crypto.ct_equal(ks.proof_t(kp, self.proof[:83]), self.proof[83:91])


def attack_suite3(frames: Iterable[bytes], id_f: bytes, dictionary: Sequence[str],
                  leaked: Sequence[bytes] = ()) -> list[str]:
    """The candidate secrets of ``dictionary`` that an offline test confirms,
    from F's SRK frame for a (forged) REQ or a recorded suite-3 handshake."""
    rec = Suite3Recording(frames, id_f)
    windows = rec.windows()
    # (scalar, the share it would have made): with a PROOF, only scalars that
    # reproduce t; without one (F's answer to a forged REQ), every window of
    # what F sent is tried as y_f with every candidate (the REQ is the attacker's).
    scalars: list[tuple[bytes, bytes]] = []
    tried = windows if rec.proof is not None else \
        {rec.srk[i:i + 32] for i in range(len(rec.srk) - 31)}
    for y in list(leaked) + sorted(tried):
        if rec.proof is None:
            scalars.append((y, rec.y_f))
            continue
        assert rec.y_s is not None
        for of_s in (True, False):
            if rec.t_with(y, of_s):
                scalars.append((y, rec.y_s if of_s else rec.y_f))
    gens = [(secret, cpace.calculate_generator(secret.encode(), rec.ci, rec.sid))
            for secret in dictionary]
    hits = {secret for secret, g in gens if g in windows}
    points = [(secret, X25519PublicKey.from_public_bytes(g)) for secret, g in gens]
    for y, share in scalars:  # X25519(y, g) == share names the secret of g
        key = X25519PrivateKey.from_private_bytes(y)
        for secret, point in points:
            try:
                if key.exchange(point) == share:
                    hits.add(secret)
            except ValueError:  # an all-zero result: g of low order, no share
                continue
    return [secret for secret in dictionary if secret in hits]


def derived_ps(secret: str, id_f: bytes, id_s: bytes, iterations: int = 1000) -> bytes:
    """A PS derived from a user's secret by PBKDF2 (forbidden by section 8)."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), b"ephkey v2 user" + id_f + id_s,
                               iterations, 32)


def attack_derived_ps(req: bytes, srk_frame: bytes, id_f: bytes, dictionary: Sequence[str],
                      iterations: int = 1000) -> list[str]:
    """The candidates whose PBKDF2 PS explains F's suite-1 or suite-2 SRK frame."""
    id_s, n_s, n_f = req[1:9], req[9:21], srk_frame[4:16]
    th1 = ks.th1(req)
    found = []
    for secret in dictionary:
        prk = ks.prk(n_s, n_f, derived_ps(secret, id_f, id_s, iterations))
        if srk_frame[3] == 2:
            ok = crypto.ct_equal(ks.auth(ks.ka(prk, th1), srk_frame[:48]), srk_frame[48:64])
        else:
            kek2 = ks.kek2(prk, th1, srk_frame[:4])
            ok = crypto.kw_unwrap(kek2, srk_frame[16:40]) is not None
        if ok:
            found.append(secret)
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
