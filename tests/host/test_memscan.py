"""Key copies in RAM (issue 12 item 4, docs/protocol.md 9.3): a memory scan of
the MicroPython process that ran a suite-2 session, and one that ran a suite-3
session (15.10: the user's secret through CPace; besides suite 2's values,
CPace's scalars, generator, K and ISK, and PSU must be gone).

tests/firmware/memscan_driver.py runs both stations of a suite-2 session in
one unix MicroPython process, in real ``Node`` event loops (with their heap
scrub) and the deterministic RNG of section 12, and stops at two checkpoints:
at key 3, and after both sides closed and the interval's key pair left the
ring. At each, this test recomputes every secret of the session from the
seeds and the recorded frames (in CPython, from the spec, with its own code)
and searches every readable and writable mapping of that process
(``/proc/PID/maps``, ``/proc/PID/mem``) for each of them as a byte string.

The recomputation is checked against the frames first (auth, t, c, every
wrapped IDRK unwraps to the IDRK the RNG drew), and values the stations must
still hold (PS, the current IDRK and chain key at key 3) must be found: the
scan reads the right memory and looks for the right values. The same run
without the scrub must find at least one secret: the test can fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from ephkey_host import cpace

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/mem"),
]


def H(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def lbl(name: str, suite: int = 2) -> bytes:
    return b"ephkey v2 s%d %s" % (suite, name.encode())


def expand(prk: bytes, info: bytes, n: int) -> bytes:
    return mac(prk, info, b"\x01")[:n]


def stream(seed: bytes, sizes: list[int]) -> list[bytes]:
    """The draws of the section-12 RNG, call by call."""
    out = b""
    c = 0
    need = sum(sizes)
    while len(out) < need:
        out += H(seed, c.to_bytes(4, "big"))
        c += 1
    draws = []
    p = 0
    for n in sizes:
        draws.append(out[p:p + n])
        p += n
    return draws


def x25519(k: bytes, u: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))


def secrets_of(cp: dict[str, Any]) -> dict[str, bytes]:
    """Every secret of the session, recomputed from the seeds and the frames,
    and checked against the frames."""
    frames = [(who, bytes.fromhex(h)) for who, h in cp["frames"]]
    req = next(f for _, f in frames if f[0] == 0x21)
    srk = next(f for _, f in frames if f[0] == 0x22)
    proof = next(f for _, f in frames if f[0] == 0x23)
    key = next(f for _, f in frames if f[0] == 0x24)
    suite = srk[3]
    if suite == 3:
        return secrets3_of(cp, req, srk, proof, key, frames)
    ps = bytes.fromhex(cp["ps"])
    k = cp["idrks"]
    draws_f = stream(bytes.fromhex(cp["seed_f"]), cp["draws_f"])
    draws_s = stream(bytes.fromhex(cp["seed_s"]), cp["draws_s"])
    n_s, e_priv = draws_s
    assert req[9:21] == n_s
    srk_pub = srk[16:48]
    srk_privs = [d for d in draws_f if len(d) == 32 and
                 X25519PrivateKey.from_private_bytes(d).public_key().public_bytes_raw()
                 == srk_pub]
    assert len(srk_privs) == 1
    req_draw = next(d for d in draws_f if len(d) == 2 + 12 + 16 * k)
    assert int.from_bytes(req_draw[0:2], "big") == int.from_bytes(srk[1:3], "big")
    assert req_draw[2:14] == srk[4:16]  # n_f
    idrks = [req_draw[14 + 16 * j:30 + 16 * j] for j in range(k)]
    v: dict[str, bytes] = {"srk_priv": srk_privs[0], "e_priv": e_priv}
    v["dh"] = x25519(e_priv, srk_pub)
    assert v["dh"] == x25519(srk_privs[0], proof[3:35])
    th1 = H(req)
    v["prk"] = mac(n_s + srk[4:16], ps)
    v["ka"] = expand(v["prk"], lbl("auth") + th1, 32)
    assert mac(v["ka"], srk[:48])[:16] == srk[48:64], "auth"
    th2 = H(th1, srk)
    v["kp"] = expand(v["prk"], lbl("pmac") + th2, 32)
    v["spv"] = expand(v["prk"], lbl("sp") + th2, 16)
    v["prk3"] = mac(th2, v["dh"], ps)
    v["pad"] = expand(v["prk3"], lbl("pad"), 16)
    assert mac(v["kp"], proof[:51])[:8] == proof[51:59], "t"
    assert bytes(a ^ b for a, b in zip(v["spv"], v["pad"], strict=True)) == proof[35:51], "c"
    v["ps"] = ps
    return chain(v, 2, H(th2, proof), idrks, key, frames)


def secrets3_of(cp: dict[str, Any], req: bytes, srk: bytes, proof: bytes, key: bytes,
                frames: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Suite 3 (15.10): CPace's values too, from the seeds, the secret and the frames."""
    secret = bytes.fromhex(cp["secret"])
    id_f, id_s = bytes.fromhex(cp["id_f"]), bytes.fromhex(cp["id_s"])
    k = cp["idrks"]
    draws_f = stream(bytes.fromhex(cp["seed_f"]), cp["draws_f"])
    n_s, ys_e = stream(bytes.fromhex(cp["seed_s"]), cp["draws_s"])
    y_s, e_priv = ys_e[:32], ys_e[32:]
    assert req[9:21] == n_s
    srk_pub = srk[16:48]
    srk_privs = [d for d in draws_f if len(d) == 32 and
                 X25519PrivateKey.from_private_bytes(d).public_key().public_bytes_raw()
                 == srk_pub]
    assert len(srk_privs) == 1
    req_draw = next(d for d in draws_f if len(d) == 2 + 12 + 16 * k + 32)
    assert req_draw[2:14] == srk[4:16]  # n_f
    y_f = req_draw[14 + 16 * k:]
    idrks = [req_draw[14 + 16 * j:30 + 16 * j] for j in range(k)]
    v: dict[str, bytes] = {"srk_priv": srk_privs[0], "e_priv": e_priv, "y_f": y_f, "y_s": y_s,
                           "secret": secret}
    csid = n_s + srk[4:16]
    v["g"] = cpace.calculate_generator(secret, cpace.lv_cat(b"ephkey v2 s3", id_s, id_f), csid)
    assert x25519(y_f, v["g"]) == srk[48:80], "Y_f"
    assert x25519(y_s, v["g"]) == proof[3:35], "Y_s"
    v["k"] = x25519(y_s, srk[48:80])
    v["isk"] = cpace.isk(csid, v["k"], cpace.IR, proof[3:35], req, srk[48:80], srk[:48])
    th2 = H(H(req), srk)
    v["prk"] = mac(th2, v["isk"])
    v["kp"] = expand(v["prk"], lbl("pmac", 3) + th2, 32)
    v["spv"] = expand(v["prk"], lbl("sp", 3) + th2, 16)
    v["psu"] = expand(v["prk"], lbl("ps", 3) + th2, 32)
    v["dh"] = x25519(e_priv, srk_pub)
    assert v["dh"] == x25519(srk_privs[0], proof[35:67])
    v["prk3"] = mac(th2, v["dh"], v["psu"])
    v["pad"] = expand(v["prk3"], lbl("pad", 3), 16)
    assert mac(v["kp"], proof[:83])[:8] == proof[83:91], "t"
    assert bytes(a ^ b for a, b in zip(v["spv"], v["pad"], strict=True)) == proof[67:83], "c"
    return chain(v, 3, H(th2, proof), idrks, key, frames)


def chain(v: dict[str, bytes], suite: int, th3: bytes, idrks: list[bytes], key: bytes,
          frames: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """MS, the chain and the IDRKs (3.6), checked against KEY and every REKEY."""
    k = len(idrks)
    ck = v["ms"] = expand(v["prk3"], lbl("ms", suite) + th3, 32)
    for j in range(k):  # the chain: KEK_j and CK_{j+1} from CK_j (3.6)
        v["kek_%d" % j] = expand(ck, lbl("kek", suite) + bytes((j,)), 16)
        ck = v["ck_%d" % (j + 1)] = expand(ck, lbl("chain", suite) + bytes((j + 1,)), 32)
        v["idrk_%d" % j] = idrks[j]
    assert aes_key_unwrap(v["kek_0"], key[3:27]) == idrks[0], "KEY"
    rekeyed = set()
    for who, fr in frames:  # each REKEY(j), sealed under IDRK_{j-1}
        if fr[0] == 0x26 and who == "F":
            kidx = fr[3]
            nonce = bytes((0, 0)) + fr[1:3] + bytes((1, kidx, 0, 0, 0)) + fr[4:8]
            pt = AESCCM(idrks[kidx], tag_length=8).decrypt(nonce, fr[8:], fr[:8])
            j = pt[0]
            assert aes_key_unwrap(v["kek_%d" % j], pt[1:25]) == idrks[j], "REKEY %d" % j
            rekeyed.add(j)
    assert rekeyed == {1, 2, 3}, rekeyed
    return v


def scan(pid: int, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Where each needle is, in every readable and writable mapping of pid."""
    found: dict[str, list[str]] = {name: [] for name in needles}
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            perms = fields[1]
            if "r" not in perms or "w" not in perms:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError):
                continue
            where = fields[5] if len(fields) > 5 else "[anon]"
            for name, value in needles.items():
                i = data.find(value)
                while i >= 0:
                    found[name].append("%s %#x+%#x" % (where, start, i))
                    i = data.find(value, i + 1)
    return found


class Driver:
    def __init__(self, micropython: str, scrub: bool, suite: int = 2):
        env = dict(os.environ, MICROPYPATH="firmware:tests/firmware:.frozen")
        self.p = subprocess.Popen(
            [micropython, "tests/firmware/memscan_driver.py", "scrub" if scrub else "noscrub",
             str(suite)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def checkpoint(self) -> dict[str, Any]:
        assert self.p.stdout
        line = self.p.stdout.readline()
        assert line.startswith("CHECKPOINT "), line + self.p.stdout.read()
        cp: dict[str, Any] = json.loads(line[len("CHECKPOINT "):])
        return cp

    def go_on(self) -> None:
        assert self.p.stdin
        self.p.stdin.write("\n")
        self.p.stdin.flush()

    def finish(self) -> None:
        out, _ = self.p.communicate(timeout=60)
        assert self.p.returncode == 0 and "DONE" in out, out


# 9.3: what must be gone at key 3 (the chain of this session up to key 3) ...
AT_KEY3 = ["dh", "e_priv", "prk", "ka", "kp", "spv", "prk3", "pad", "ms", "ck_1", "ck_2",
           "ck_3", "kek_0", "kek_1", "kek_2", "kek_3", "idrk_0", "idrk_1", "idrk_2"]
# ... and what the stations hold then, legitimately: the scan must see them
HELD_AT_KEY3 = ["idrk_3", "ck_4", "ps"]
# after both closed and the key pair's removal: every secret of the session
AT_CLOSE = AT_KEY3 + ["idrk_3", "idrk_4", "ck_4", "srk_priv"]
# suite 3 (15.10): no KA; CPace's scalars, generator, K, ISK, and PSU instead of
# PS, which the record's secret replaces (F holds it: it must be found)
AT_KEY3_S3 = [n for n in AT_KEY3 if n != "ka"] + ["y_f", "y_s", "g", "k", "isk", "psu"]
HELD_S3 = ["idrk_3", "ck_4", "secret"]
AT_CLOSE_S3 = AT_KEY3_S3 + ["idrk_3", "idrk_4", "ck_4", "srk_priv"]
NEEDLES = {2: (AT_KEY3, HELD_AT_KEY3, AT_CLOSE, "ps"),
           3: (AT_KEY3_S3, HELD_S3, AT_CLOSE_S3, "secret")}


def run(micropython: str, scrub: bool, suite: int = 2) -> tuple[dict, dict, dict, dict]:
    at_key3_names, held, at_close_names, kept = NEEDLES[suite]
    d = Driver(micropython, scrub, suite)
    try:
        cp1 = d.checkpoint()
        v = secrets_of(cp1)
        assert all(name in v for name in at_close_names + held), sorted(v)
        at_key3 = scan(d.p.pid, {n: v[n] for n in at_key3_names + held})
        d.go_on()
        cp2 = d.checkpoint()
        at_close = scan(d.p.pid, {n: v[n] for n in at_close_names + [kept]})
        d.go_on()
        d.finish()
    finally:
        if d.p.poll() is None:
            d.p.kill()
            d.p.wait()
    return cp1, cp2, at_key3, at_close


@pytest.mark.parametrize("suite", [2, 3])
def test_no_secret_of_a_closed_session_is_left_in_the_process_memory(
        micropython_bin: str, suite: int) -> None:
    at_key3_names, held, _, kept = NEEDLES[suite]
    cp1, cp2, at_key3, at_close = run(micropython_bin, scrub=True, suite=suite)
    assert cp1["scrubs"][0] > 0 and cp1["scrubs"][1] > 0, cp1["scrubs"]
    # the scan sees the stations' memory: what they hold is found
    for name in held:
        assert at_key3[name], "%s not found at key 3: the scan misses memory" % name
    assert at_close[kept], "%s not found after the close: the scan misses memory" % kept
    left = {n: w for n, w in at_key3.items() if w and n in at_key3_names}
    assert not left, "at key 3, still in memory: %s" % left
    left = {n: w for n, w in at_close.items() if w and n != kept}
    assert not left, "after the close, still in memory: %s" % left


@pytest.mark.parametrize("suite", [2, 3])
def test_without_the_scrub_the_same_scan_finds_secrets(micropython_bin: str, suite: int) -> None:
    at_key3_names, _, _, kept = NEEDLES[suite]
    cp1, cp2, at_key3, at_close = run(micropython_bin, scrub=False, suite=suite)
    found = sorted(n for n, w in at_close.items() if w and n != kept)
    found3 = sorted(n for n, w in at_key3.items() if w and n in at_key3_names)
    print("without the scrub: at key 3 %s; after the close %s" % (found3, found))
    assert found, "the scan found nothing even without the scrub: it cannot fail"
