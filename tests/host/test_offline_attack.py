"""The offline dictionary attack of issue 11, as an attacker runs it (spec 9.4).

A dictionary of 1,000 codes that holds the right one. Against a recorded
device pairing (CPace) the attacker of tools/offline_attack.py confirms no
candidate; given a leaked CPace scalar, or a recording in which an
implementation leaked its scalar or its generator, the same program finds
the code (so it does test what it claims to). Pointed at version 1's
user-secret variant (PBKDF2 PS) and a recorded v1 SRK frame, it finds the
code among the 1,000, which shows the test can fail.
"""

from __future__ import annotations

import random
import time

import pytest

from ephkey_host import cpace
from ephkey_host.drbg import Drbg
from ephkey_host.pair_device import PairingMachine, channel_id
from offline_attack import attack_pairing, attack_v1_user_secret, v1_exchange

pytestmark = pytest.mark.timeout(120)

ID_S = bytes.fromhex("5e5e5e5e5e5e5e01")
ID_F = bytes.fromhex("f1f1f1f1f1f1f101")


def dictionary(right: str, seed: int = 11) -> list[str]:
    rnd = random.Random(seed)
    codes = {right}
    while len(codes) < 1000:
        codes.add("%06d" % rnd.randrange(1_000_000))
    out = sorted(codes)
    rnd.shuffle(out)
    assert len(out) == 1000 and right in out
    return out


class Scalars:
    """An RNG (section 12's stream) that also keeps its 32-byte draws."""

    def __init__(self, seed: bytes) -> None:
        self.rng = Drbg(seed)
        self.drawn: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self.rng(n)
        if n == 32:
            self.drawn.append(out)
        return out


def recorded_pairing(code: str) -> tuple[list[bytes], bytes, bytes]:
    """The frames of one successful pairing, and the two CPace scalars."""
    rs, rf = Scalars(b"attack-s"), Scalars(b"attack-f")
    s = PairingMachine(True, ID_S, code, rs, 0)
    f = PairingMachine(False, ID_F, code, rf, 0)
    wire: list[bytes] = []
    for t in range(1, 6):
        for fr in s.outputs():
            wire.append(fr)
            f.receive(fr, t)
        for fr in f.outputs():
            wire.append(fr)
            s.receive(fr, t)
    assert s.ps is not None and s.ps == f.ps
    assert [fr[0] for fr in wire] == [0x29, 0x2A, 0x2B, 0x2C]
    return wire, rs.drawn[-1], rf.drawn[-1]


CODE = "318274"


def test_recorded_pairing_gives_no_offline_test() -> None:
    wire, _, _ = recorded_pairing(CODE)
    t0 = time.monotonic()
    found = attack_pairing(wire, dictionary(CODE))
    elapsed = time.monotonic() - t0
    assert found == []
    print(f"pairing: 1000 candidates, every offline test, {elapsed:.2f} s: nothing confirmed")


def test_the_attacker_finds_the_code_once_a_scalar_is_known() -> None:
    wire, y_s, y_f = recorded_pairing(CODE)
    words = dictionary(CODE)
    assert attack_pairing(wire, words, leaked=[y_s]) == [CODE]
    assert attack_pairing(wire, words, leaked=[y_f]) == [CODE]
    # an implementation that put its scalar on the wire, or sent g instead of its share
    assert attack_pairing(wire + [b"\x2f" + y_s], words) == [CODE]
    hello, reply = wire[0], wire[1]
    g = cpace.calculate_generator(CODE.encode(), channel_id(ID_S, ID_F),
                                  hello[9:21] + reply[11:23])
    leaky = [hello, reply[:23] + g] + wire[2:]
    assert attack_pairing(leaky, words) == [CODE]


def test_wrong_code_attempt_gives_no_offline_test_either() -> None:
    """An attacker playing F with its guess gets S's PAIR_SHARE: one online
    guess (the one it used), nothing to test the rest of the dictionary with."""
    words = dictionary(CODE)
    guess = next(w for w in words if w != CODE)
    attacker = Scalars(b"attacker-f")
    s = PairingMachine(True, ID_S, CODE, Scalars(b"victim-s"), 0)
    f = PairingMachine(False, ID_F, guess, attacker, 0)
    wire = []
    for fr in s.outputs():
        wire.append(fr)
        f.receive(fr, 1)
    for fr in f.outputs():
        wire.append(fr)
        s.receive(fr, 2)
    share = s.outputs()  # PAIR_SHARE with tag_s under the victim's code
    wire += share
    assert [fr[0] for fr in wire] == [0x29, 0x2A, 0x2B]
    # online: the attacker's own machine tells it that its one guess was wrong
    f.receive(share[0], 3)
    assert [(e.name, e.arg) for e in f.events()] == [("PAIR_FAILED", 21)]
    # offline, even with its own scalar: nothing about the other 999 candidates
    assert attack_pairing(wire, words, leaked=attacker.drawn) == []


def test_old_pbkdf2_user_secret_falls_to_the_same_dictionary() -> None:
    req, srk = v1_exchange(CODE, ID_F, ID_S, Drbg(b"v1-F"))
    assert len(req) == 32 and len(srk) == 49 and srk[:2] == b"\x01\x02"
    words = dictionary(CODE)
    t0 = time.monotonic()
    found = attack_v1_user_secret(req, srk, ID_F, words)
    elapsed = time.monotonic() - t0
    assert found == [CODE]
    print(f"v1 PBKDF2 (1000 iterations): 1000 candidates in {elapsed:.2f} s, found {found}")
    # and not with a dictionary that lacks it
    assert attack_v1_user_secret(req, srk, ID_F, [w for w in words if w != CODE]) == []
