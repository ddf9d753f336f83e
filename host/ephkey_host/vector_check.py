"""Replay every shared vector file of ``tests/vectors/`` with the host implementation.

One :class:`FileResult` per file, by kind (from the file name):

* ``session_*.json``: :func:`ephkey_host.vectors.run_session` (every frame and
  event, byte for byte);
* ``negative.json``: :func:`ephkey_host.vectors.run_negative` for each case,
  on the session vectors of the same folder;
* ``link.json``: ``ephkey_host.link`` and ``ephkey_host.ble_chunks`` (CRC,
  encodings, noisy streams with resets, BLE chunk sequences);
* ``primitives.json``: ``ephkey_host.crypto`` (AES-CCM, key wrap, HKDF, HMAC;
  CCM vectors with another tag length than suite 1's 8 go to ``cryptography``
  directly, which the host's crypto wraps);
* ``x25519.json``: ``ephkey_host.crypto.x25519``;
* ``cpace.json``: ``ephkey_host.cpace`` (the draft's CPACE-X25519-SHA512 run
  in both transcript modes, the scalar_mult_vfy table, RFC 9380's Elligator 2);
* ``sha512.json``: ``hashlib.sha512`` (the vectors of the firmware's SHA-512);
* ``hmac_drbg_sha256.json``: NIST CAVP HMAC_DRBG cases (the firmware's RNG),
  replayed with the stdlib's ``hmac`` (SP 800-90A 10.1.2, written here);
* ``pairing.json``: ``ephkey_host.pair_vectors`` (device pairing, protocol.md
  15.9: every frame and event of both stations, the intermediates, the
  shown-code draw).

Any other ``*.json`` is reported as skipped.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import crypto, link, vectors
from .ble_chunks import ChunkReceiver, ChunkSender, FlowSender


@dataclass
class FileResult:
    name: str
    kind: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures


def _h(s: str) -> bytes:
    return bytes.fromhex(s)


def _sessions(path: Path, res: FileResult) -> None:
    res.cases = 1
    res.failures += vectors.run_session(vectors.load(path))


def _negative(path: Path, res: FileResult) -> None:
    bases = {p.name[len("session_"):-len(".json")]: vectors.load(p)
             for p in sorted(path.parent.glob("session_*.json"))}
    for case in vectors.load(path)["cases"]:
        res.cases += 1
        if case["base"] not in bases:
            res.failures.append("%s: no session_%s.json here" % (case["name"], case["base"]))
            continue
        res.failures += vectors.run_negative(case, bases)


def _counters_match(got: dict[str, int], want: dict[str, int]) -> bool:
    return all(got.get(k) == v for k, v in want.items())


def _link(path: Path, res: FileResult) -> None:
    v = vectors.load(path)
    crc = v["crc"]
    res.cases += 1
    if binascii.crc32(_h(crc["check_input"])) != crc["check"] or crc["residue"] != link.RESIDUE:
        res.failures.append("crc: check value or residue differs")
    for e in v["encode"]:
        res.cases += 1
        frame = _h(e["frame"])
        if link.crc_bytes(frame).hex() != e["crc"] or link.encode_frame(frame).hex() != e["wire"]:
            res.failures.append("encode %s: wire form differs" % e["name"])
    for d in v["decode"]:
        res.cases += 1
        dec = link.LinkDecoder(d["max_frame"])
        stream = _h(d["stream"])
        frames: list[bytes] = []
        pos = 0
        for r in sorted(d["resets"]) + [len(stream) + 1]:
            frames += dec.feed(stream[pos:min(r, len(stream))])
            pos = min(r, len(stream))
            if r <= len(stream):
                dec.reset()
        if [f.hex() for f in frames] != d["frames"]:
            res.failures.append("decode %s: frames differ" % d["name"])
        elif not _counters_match(dec.counters.as_dict(), d["counters"]):
            res.failures.append("decode %s: counters %s, expected %s"
                                % (d["name"], dec.counters.as_dict(), d["counters"]))
    for c in v["chunks"]:
        res.cases += 1
        sender = ChunkSender(c["mtu"])
        chunks: list[bytes] = []
        acks = c.get("acks") or [0] * len(c["sends"])
        for send, ack in zip(c["sends"], acks, strict=True):
            chunks += sender.split(b"".join(link.encode_frame(_h(f)) for f in send), ack)
        if [x.hex() for x in chunks] != c["chunks"]:
            res.failures.append("chunks %s: sender output differs" % c["name"])
            continue
        dec = link.LinkDecoder(c["max_frame"])
        rx = ChunkReceiver(dec)
        frames = []
        for item in c["receive"]:
            frames += rx.feed(chunks[item] if isinstance(item, int) else _h(item))
        if [f.hex() for f in frames] != c["frames"]:
            res.failures.append("chunks %s: frames differ" % c["name"])
        elif not (_counters_match(rx.counters.as_dict(), c["rx"])
                  and _counters_match(dec.counters.as_dict(), c["link"])):
            res.failures.append("chunks %s: counters differ" % c["name"])
    for f in v.get("flow", []):
        res.cases += 1
        fs = FlowSender(f["mtu"], window=f["window"])
        stamp = 0
        outs = []
        for op in f["ops"]:
            if op[0] == "send":
                fs.queue(link.encode_frame(_h(op[1])))
            elif op[0] == "ack":
                fs.on_ack(op[1])
            else:
                stamp = op[1]
            outs.append([x.hex() for x in fs.take(stamp)])
        if outs != f["out"] or (fs.in_flight, fs.acked, fs.bad_acks) != (
                f["in_flight"], f["acked"], f["bad_acks"]):
            res.failures.append("flow %s: sender output differs" % f["name"])


def _primitives(path: Path, res: FileResult) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    v = vectors.load(path)
    for i, c in enumerate(v.get("ccm", [])):
        res.cases += 1
        key, nonce, aad, pt, ct = (_h(c[k]) for k in ("key", "nonce", "aad", "pt", "ct"))
        if c["tag_len"] == crypto.TAG_LEN and len(nonce) == crypto.NONCE_LEN:
            ok = crypto.ccm_seal(key, nonce, aad, pt) == ct and crypto.ccm_open(
                key, nonce, aad, ct) == pt
        else:
            ok = AESCCM(key, tag_length=c["tag_len"]).encrypt(nonce, pt, aad) == ct
        if not ok:
            res.failures.append("ccm %s" % c.get("source", i))
    for i, c in enumerate(v.get("kw", [])):
        res.cases += 1
        kek, key, wrapped = _h(c["kek"]), _h(c["key"]), _h(c["wrapped"])
        if crypto.kw_wrap(kek, key) != wrapped or crypto.kw_unwrap(kek, wrapped) != key:
            res.failures.append("kw %s" % c.get("source", i))
    for i, c in enumerate(v.get("hkdf", [])):
        res.cases += 1
        salt, ikm, info = _h(c["salt"]), _h(c["ikm"]), _h(c["info"])
        okm = crypto.hkdf(salt, ikm, info, c["length"])
        prk_ok = "prk" not in c or crypto.hkdf_extract(salt, ikm) == _h(c["prk"])
        if okm != _h(c["okm"]) or not prk_ok:
            res.failures.append("hkdf %s" % c.get("source", i))
    for i, c in enumerate(v.get("hmac", [])):
        res.cases += 1
        mac = crypto.hmac_sha256(_h(c["key"]), _h(c["data"]))
        if not mac.startswith(_h(c["mac"])):  # RFC 4231 case 5 publishes a prefix
            res.failures.append("hmac %s" % c.get("source", i))


def _x25519(path: Path, res: FileResult) -> None:
    v = vectors.load(path)
    for c in v.get("rfc7748", []) + v.get("random", {}).get("cases", []):
        res.cases += 1
        if crypto.x25519(_h(c["scalar"]), _h(c["u"])) != _h(c["out"]):
            res.failures.append("x25519 %s" % c.get("source", c["scalar"][:16]))
    it = v.get("iterated")
    if it:
        k, u = _h(it["k"]), _h(it["u"])
        targets = {int(n): _h(out) for n, out in it["after"].items()}
        for n in range(1, max(targets) + 1):
            out = crypto.x25519(k, u)
            assert out is not None
            k, u = out, k
            if n in targets:
                res.cases += 1
                if k != targets[n]:
                    res.failures.append("x25519 iterated %d times" % n)
    dh = v.get("dh")
    if dh:
        res.cases += 1
        a, b = _h(dh["alice_private"]), _h(dh["bob_private"])
        if (crypto.x25519_base(a) != _h(dh["alice_public"])
                or crypto.x25519_base(b) != _h(dh["bob_public"])
                or crypto.x25519(a, _h(dh["bob_public"])) != _h(dh["shared"])):
            res.failures.append("x25519 dh (RFC 7748 6.1)")
    for u in v.get("low_order", []):
        res.cases += 1
        if crypto.x25519(bytes(range(1, 33)), _h(u)) is not None:
            res.failures.append("x25519 low-order u %s accepted" % u[:16])


def _cpace(path: Path, res: FileResult) -> None:
    from . import cpace

    v = vectors.load(path)
    x = v["x25519_sha512"]
    for mode, tag in ((cpace.IR, "IR"), (cpace.OC, "OC")):
        res.cases += 1
        a, b = cpace.CPace(True, mode), cpace.CPace(False, mode)
        ya = a.start(_h(x["PRS"]), _h(x["CI"]), _h(x["sid"]), _h(x["ADa"]), lambda n: _h(x["ya"]))
        yb = b.start(_h(x["PRS"]), _h(x["CI"]), _h(x["sid"]), _h(x["ADb"]), lambda n: _h(x["yb"]))
        if (ya.hex(), yb.hex()) != (x["Ya"], x["Yb"]) or not (
                a.finish(yb, _h(x["ADb"])).hex() == b.finish(ya, _h(x["ADa"])).hex()
                == x["ISK_" + tag]):
            res.failures.append("cpace run %s" % tag)
    s = _h(v["scalar_mult_vfy"]["s"])
    for c in v["scalar_mult_vfy"]["cases"]:
        res.cases += 1
        if cpace.scalar_mult_vfy(s, _h(c["u"])).hex() != c["q"]:
            res.failures.append("cpace scalar_mult_vfy %s" % c["name"])
    for c in v["elligator2_rfc9380"]:
        res.cases += 1
        if cpace.elligator2(int.from_bytes(_h(c["u"]), "little")).hex() != c["x"]:
            res.failures.append("elligator2 %s %r" % (c["suite"], c["msg"]))


def _sha512(path: Path, res: FileResult) -> None:
    import hashlib

    v = vectors.load(path)
    for c in v["nist"] + v["random"]:
        res.cases += 1
        if hashlib.sha512(_h(c["msg"]) * c.get("repeat", 1)).hexdigest() != c["digest"]:
            res.failures.append("sha512 %s" % c.get("name", len(c["msg"]) // 2))


class _HmacDrbg:
    """SP 800-90A Rev. 1 10.1.2 with SHA-256, only to replay the CAVP cases."""

    def __init__(self, entropy: bytes, nonce: bytes, pers: bytes) -> None:
        self.k = bytes(32)
        self.v = b"\x01" * 32
        self._update(entropy + nonce + pers)

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self.k, data, hashlib.sha256).digest()

    def _update(self, data: bytes) -> None:
        self.k = self._mac(self.v + b"\x00" + data)
        self.v = self._mac(self.v)
        if data:
            self.k = self._mac(self.v + b"\x01" + data)
            self.v = self._mac(self.v)

    def reseed(self, entropy: bytes, add: bytes) -> None:
        self._update(entropy + add)

    def generate(self, n: int, add: bytes) -> bytes:
        if add:
            self._update(add)
        out = b""
        while len(out) < n:
            self.v = self._mac(self.v)
            out += self.v
        self._update(add)
        return out[:n]


def _hmac_drbg(path: Path, res: FileResult) -> None:
    for c in vectors.load(path)["cases"]:
        res.cases += 1
        d = _HmacDrbg(_h(c["entropy"]), _h(c["nonce"]), _h(c["personalization"]))
        if "entropy_reseed" in c:
            d.reseed(_h(c["entropy_reseed"]), _h(c["additional_reseed"]))
        n = len(c["returned"]) // 2
        d.generate(n, _h(c["additional"][0]))
        if d.generate(n, _h(c["additional"][1])).hex() != c["returned"]:
            res.failures.append("%s line %d: returned bits differ" % (c["file"], c["line"]))


def _pairing(path: Path, res: FileResult) -> None:
    from . import pair_vectors

    res.cases, bad = pair_vectors.check(vectors.load(path))
    res.failures += bad


_KINDS: list[tuple[str, str, Callable[[Path, FileResult], None]]] = [
    ("session_", "session", _sessions),
    ("negative", "negative", _negative),
    ("link", "link", _link),
    ("primitives", "primitives", _primitives),
    ("x25519", "x25519", _x25519),
    ("cpace", "cpace", _cpace),
    ("sha512", "sha512", _sha512),
    ("hmac_drbg", "hmac_drbg", _hmac_drbg),
    ("pairing", "pairing", _pairing),
]


def check_file(path: str | Path) -> FileResult:
    path = Path(path)
    for prefix, kind, fn in _KINDS:
        if path.name.startswith(prefix):
            res = FileResult(path.name, kind)
            try:
                fn(path, res)
            except Exception as e:  # a malformed file is a failure of that file
                last = traceback.extract_tb(e.__traceback__)[-1]
                res.failures.append("cannot replay: %s: %s (%s line %d)"
                                    % (type(e).__name__, e, Path(last.filename).name,
                                       last.lineno or 0))
            return res
    return FileResult(path.name, "unknown", skipped=True)


def check_dir(folder: str | Path) -> list[FileResult]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError("no vector folder %s" % folder)
    return [check_file(p) for p in sorted(folder.glob("*.json"))]


def summary(results: list[FileResult]) -> dict[str, Any]:
    return {"files": len(results), "passed": sum(r.ok and not r.skipped for r in results),
            "failed": sum(not r.ok for r in results), "skipped": sum(r.skipped for r in results)}
