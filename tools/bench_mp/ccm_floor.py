# DATA frames against the cryptolib floor, under MicroPython.
#
#     MICROPYTHON=... MICROPYPATH=firmware:tools/bench_mp micropython tools/bench_mp/ccm_floor.py
#
# For each payload size: the time of one protected DATA frame sealed and
# opened through ephkey.channel (CcmEngine underneath), and in the same run
# the floor: the native cryptolib calls alone over the same bytes (per CCM
# pass one CBC over B0, the AAD block and the padded payload, and one ECB
# over the counter blocks A_0 .. A_m; two passes per frame). Both are the
# minimum over ROUNDS rounds of ITERS frames, taking turns. Prints one line
# `BENCH {json}` with ratio = floor / ours per size (1.0: no overhead at all).

import gc
import os
from time import ticks_diff, ticks_us  # type: ignore[attr-defined]

import cryptolib
from common import emit, vm_info

from ephkey import channel, wire
from ephkey.crypto import CcmEngine, CcmKey

SIZES = (16, 64, 256, 1024)
ROUNDS = 15
ITERS = 200


def frame_pair(eng, ck, nonce, buf, pt, out, size, n):
    seq = 0
    t0 = ticks_us()
    while seq < n:
        m = channel.seal(eng, ck, nonce, buf, wire.DATA, 0x1234, 1, 0, seq, pt, size)
        channel.open_(eng, ck, nonce, buf, m, 0x1234, 1, 0, seq, out)
        seq += 1
    return ticks_diff(ticks_us(), t0)


def floor_pair(ecb, cbc, mac_in, mac_out, ctr, ks, n):
    i = 0
    t0 = ticks_us()
    while i < n:
        cbc.encrypt(mac_in, mac_out)
        ecb.encrypt(ctr, ks)
        cbc.encrypt(mac_in, mac_out)
        ecb.encrypt(ctr, ks)
        i += 1
    return ticks_diff(ticks_us(), t0)


def main():
    gc.collect()
    key = bytes(range(16))
    eng = CcmEngine(max(SIZES), wire.PROT_HDR)
    ck = CcmKey(key)
    ecb = cryptolib.aes(key, 1)
    cbc = cryptolib.aes(key, 2, bytes(16))
    nonce = bytearray(13)
    buf = bytearray(wire.PROT_HDR + max(SIZES) + 8)
    out = bytearray(max(SIZES))
    # the floor's buffers, for the largest size, made first (a board's heap
    # fragments); per size, views of the exact lengths
    blocks = (max(SIZES) + 15) // 16
    mac_in = bytearray(16 * (1 + (2 + wire.PROT_HDR + 15) // 16 + blocks))
    mac_out = bytearray(len(mac_in))
    ctr = bytearray(16 * (blocks + 1))
    ks = bytearray(len(ctr))
    res = {}
    for size in SIZES:
        gc.collect()  # outside the timing
        pt = bytearray(os.urandom(size))
        m = channel.seal(eng, ck, nonce, buf, wire.DATA, 0x1234, 1, 0, 0, pt, size)
        if channel.open_(eng, ck, nonce, buf, m, 0x1234, 1, 0, 0, out) != size or \
                out[:size] != pt:
            raise RuntimeError("CCM round trip failed at %d bytes" % size)
        blocks = (size + 15) // 16
        n_mac = 16 * (1 + (2 + wire.PROT_HDR + 15) // 16 + blocks)
        mi, mo = memoryview(mac_in)[:n_mac], memoryview(mac_out)[:n_mac]
        ci, co = memoryview(ctr)[:16 * (blocks + 1)], memoryview(ks)[:16 * (blocks + 1)]
        ours = []
        floor = []
        for _ in range(ROUNDS):
            ours.append(frame_pair(eng, ck, nonce, buf, pt, out, size, ITERS) / ITERS)
            floor.append(floor_pair(ecb, cbc, mi, mo, ci, co, ITERS) / ITERS)
        res[str(size)] = {"ours_us": min(ours), "floor_us": min(floor),
                          "ratio": round(min(floor) / min(ours), 3)}
    emit("ccm_floor", vm=vm_info(), rounds=ROUNDS, iters=ITERS, sizes=res)


main()
