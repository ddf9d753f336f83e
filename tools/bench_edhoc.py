"""Full handshakes on the CPython host side: ephkey suite 1 and suite 2 (this
repository's host implementation, ephkey_host, both roles in one process)
beside lakers-python's EDHOC (RFC 9528, both roles in one process).

What is compared: the CPU of one complete handshake, both roles, messages
handed across in memory, no link; each side's own crypto library underneath
(ephkey_host: `cryptography`, i.e. OpenSSL, AES-CCM and X25519; lakers: its
Rust crypto, P-256). EDHOC runs method 3 (static DH keys, cipher suite 2:
P-256, AES-CCM-16-64-128, SHA-256) with the credentials of RFC 9529's
chapter 3 trace, by reference; the initiator's ephemeral key is fresh per
handshake. Suite 1 is pre-shared keys without a DH; suite 2 is one X25519
key pair per interval at F (shared, as section 11 defaults) and a fresh one
per handshake at S: so the figures compare protocols with their own
libraries, not like with like. Rounds alternate ours and EDHOC.

lakers-python is not in requirements.txt (a wheel exists only for some
platforms): `ensure_lakers()` tries `pip install lakers-python==LAKERS_PIN`
into the running venv once (the full profile only) and, if that fails, says
why; the bench goes on.

    .venv/bin/python tools/bench_edhoc.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

LAKERS_PIN = "0.6.2"

# RFC 9529 (EDHOC traces), chapter 3 (method 3, cipher suite 2): the
# initiator's and responder's static P-256 keys and their CCS credentials.
CRED_I = bytes.fromhex(
    "a2027734322d35302d33312d46462d45462d33372d33322d333908a101a5010202412b20012158"
    "20ac75e9ece3e50bfc8ed60399889522405c47bf16df96660a41298cb4307f7eb62258206e5de6"
    "11388a4b8a8211334ac7d37ecb52a387d257e6db3c2a93df21ff3affc8")
I_PRIV = bytes.fromhex("fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b")
R_PRIV = bytes.fromhex("72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac")
CRED_R = bytes.fromhex(
    "a2026008a101a5010202410a2001215820bbc34960526ea4d32e940cad2a234148ddc21791a12a"
    "fbcbac93622046dd44f02258204519e257236b2a0ce2023f0931f1f386ca7afda64fcde0108c22"
    "4c51eabf6072")


def ensure_lakers(install: bool = True) -> tuple[Any, str]:
    """(the lakers module or None, a line saying what happened). install:
    try pip when it is missing (the quick profile, run by make test, does not)."""
    try:
        import lakers

        return lakers, f"lakers-python {_version()}"
    except ImportError:
        pass
    if not install:
        return None, (f"lakers-python is not installed (the full bench tries pip install "
                      f"lakers-python=={LAKERS_PIN})")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           f"lakers-python=={LAKERS_PIN}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"pip install lakers-python=={LAKERS_PIN} did not finish: {e}"
    if p.returncode != 0:
        err = [ln for ln in p.stderr.splitlines() if ln.startswith("ERROR")] or \
            p.stderr.splitlines()[-1:]
        return None, (f"pip install lakers-python=={LAKERS_PIN} failed: "
                      + (err[0] if err else f"exit {p.returncode}"))
    try:
        import lakers
    except ImportError as e:
        return None, f"lakers-python installed but does not import: {e}"
    return lakers, f"lakers-python {_version()} (installed by the bench)"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lakers-python")
    except PackageNotFoundError:
        return "?"


def edhoc_handshake(lakers: Any) -> int:
    """One full EDHOC handshake, both roles; returns the bytes of messages 1-3."""
    ini = lakers.EdhocInitiator()
    res = lakers.EdhocResponder(R_PRIV, CRED_R)
    m1 = ini.prepare_message_1(c_i=None, ead_1=None)
    _c_i, ead_1 = res.process_message_1(m1)
    m2 = res.prepare_message_2(lakers.CredentialTransfer.ByReference, None, ead_1)
    _c_r, id_cred_r, _ead_2 = ini.parse_message_2(m2)
    ini.verify_message_2(I_PRIV, CRED_I, lakers.credential_check_or_fetch(id_cred_r, CRED_R))
    m3, prk_i = ini.prepare_message_3(lakers.CredentialTransfer.ByReference, None)
    id_cred_i, _ead_3 = res.parse_message_3(m3)
    prk_r = res.verify_message_3(lakers.credential_check_or_fetch(id_cred_i, CRED_I))
    if bytes(prk_i) != bytes(prk_r):
        raise RuntimeError("EDHOC: PRK_out differs")
    return len(m1) + len(m2) + len(m3)


class Ours:
    """A host first station and second stations of one suite, in memory."""

    def __init__(self, suite: int, peers: int = 4) -> None:
        import os

        from ephkey_host.config import FirstConfig, Pairing, SecondConfig
        from ephkey_host.first import FirstStation
        from ephkey_host.second import SecondStation

        pairs = [Pairing(b"BENCHF01", b"BS%06d" % i, bytes((i + j) & 255 for j in range(16)))
                 for i in range(peers)]
        self.f = FirstStation(FirstConfig(suites=[suite]), pairs, os.urandom, 0)
        self.s = [SecondStation(SecondConfig(offer=[suite]), p, os.urandom, 0) for p in pairs]
        self.now = 1000
        self.k = 0

    def handshake(self) -> int:
        """One handshake of the next second station (its previous session closed
        first); returns the bytes of the frames exchanged."""
        f, s = self.f, self.s[self.k % len(self.s)]
        self.k += 1
        self.now += 1
        now = self.now
        if f.prepare(now):  # suite 2: the interval's key pair, as the node's loop does
            f.run_jobs(now)
        s.close(now)  # its previous session: the CLOSE is not counted
        for fr in s.outputs():
            f.receive(fr, now)
        f.outputs()
        f.events()
        s.events()
        s.connect(now)
        nbytes = 0
        established = set()
        for _ in range(40):
            moved = False
            for src, dst in ((s, f), (f, s)):
                src.poll(now)  # suite 2: S asks again after NOT_READY (4.7)
                src.run_jobs(now)
                for fr in src.outputs():
                    nbytes += len(fr)
                    dst.receive(fr, now)
                    moved = True
            for st, who in ((f, "F"), (s, "S")):
                for e in st.events():
                    if e.name == "ESTABLISHED":
                        established.add(who)
            if established == {"F", "S"} and not moved:
                self.now = now
                return nbytes
            if not moved:
                now += 10
        raise RuntimeError(f"host handshake did not finish: {established}")


def run(quick: bool = False) -> dict[str, Any]:
    rounds, per = (3, 5) if quick else (9, 40)
    lakers, status = ensure_lakers(install=not quick)
    kinds: dict[str, Any] = {"s1": Ours(1), "s2": Ours(2)}
    if lakers is not None:
        kinds["edhoc"] = lakers
    out: dict[str, Any] = {"lakers": status, "rounds": rounds, "per_round": per,
                           "installed": lakers is not None}
    one = {"s1": kinds["s1"].handshake, "s2": kinds["s2"].handshake}
    if lakers is not None:
        one["edhoc"] = lambda: edhoc_handshake(lakers)
    wire = {k: fn() for k, fn in one.items()}  # warm-up, and the bytes per handshake
    times: dict[str, list[float]] = {k: [] for k in one}
    for _ in range(rounds):
        for k, fn in one.items():
            t0 = time.perf_counter()
            for _ in range(per):
                fn()
            times[k].append((time.perf_counter() - t0) / per * 1e6)
    for k in one:
        ts = times[k]
        out[k] = {"us": {"median": statistics.median(ts), "min": min(ts), "max": max(ts),
                         "n": len(ts)}, "bytes": wire[k]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    r = run(a.quick)
    print(r["lakers"])
    for k, label in (("s1", "ephkey suite 1 (host)"), ("s2", "ephkey suite 2 (host)"),
                     ("edhoc", "EDHOC method 3 (lakers)")):
        if k in r:
            print("%-26s %9.1f us per handshake, both roles (min %.1f, max %.1f); %d B" % (
                label, r[k]["us"]["median"], r[k]["us"]["min"], r[k]["us"]["max"],
                r[k]["bytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
