# ruff: noqa: F821 - run appended to common.py, which defines the helpers used here
# Instruction counts on the emulated Cortex-M3 (tools/bench_emu.py).
#
# Appended to common.py and run as the main.py of an emulated board booted with
# QEMU's -icount shift=0: one guest instruction is 1 ns of virtual time, so
# ticks_us() moves by 1 every 1000 instructions, whatever the host's load.
# Every input is deterministic (Drbg RNGs, fixed keys and payloads, the frozen
# ephkey of the image), so two boots print the same counts. Results are
# `BENCH {json}` lines; the script ends the emulator (emu.exit).

import cryptolib

import emu
from ephkey import channel, wire
from ephkey.crypto import CcmEngine, CcmKey
from ephkey.x25519 import x25519, x25519_base

PER_US = 1000  # instructions per ticks_us() step under -icount shift=0


def _instr(t0, t1):
    return ticks_diff(t1, t0) * PER_US


def _jobs(st, now):
    while st.busy():
        st.work(now)


def c_handshakes(P):
    """Per handshake, each role's own work: F's receive() calls, its work()
    calls (suite 2: the PROOF's DH, 4.7) and the pops of what they queued; S's
    connect, receive(SRK) with its work() calls (e_pub and DH) and
    receive(KEY). F serves `stations` second stations in turn, its SRK or key
    pair shared by the interval (section 11 defaults, the clock moving 1 ms
    per handshake); the first `warm` handshakes (they make the interval's
    SRK: a suite-2 REQ then gets NOT_READY and F's job makes the pair) are
    left out."""
    now = 1000
    for suite in P["suites"]:
        n_st = P["stations"]
        f = first(suite, n_st, rng=Drbg(b"icount-F%d" % suite), now=now)
        ss = [second(suite, i, rng=Drbg(b"icount-S%d-%d" % (suite, i)), now=now)
              for i in range(n_st)]
        sids = [0] * n_st
        f_counts = []
        s_counts = []
        gcs = []  # the collection before each counted handshake (both roles' garbage)
        # after the counted handshakes, two more: one with F's native calls
        # recorded, one with S's (the floors), X25519 runs counted per role
        xs = {"F": 0, "S": 0}
        for st, who in [(f, "F")] + [(x, "S") for x in ss]:
            _count_x25519(st, who, xs)
        nats = {}
        last = P["warm"] + P["n"]
        for k in range(last + 2):
            rec = "F" if k == last else ("S" if k == last + 1 else None)
            nat = None
            if rec:
                nat = Natives()
                nat.install()
                xs["on"] = rec
                xs[rec] = 0
            i = k % n_st
            s = ss[i]
            now += 1
            if sids[i]:  # F closes S's previous session (not counted)
                f.close(sids[i], now)
                m = f.next_output()
                s.receive(f.out, m, now)
                drain_out(f)
                drain_events(f)
                drain_out(s)
                drain_events(s)
                sids[i] = 0
            tg = ticks_us()
            gc.collect()  # the previous handshake's garbage: counted apart (gc below)
            t0 = ticks_us()
            _rec(nat, rec == "S")
            s.connect(now)
            n = s.next_output()
            _rec(nat, rec == "F")
            t1 = ticks_us()
            f.receive(s.out, n, now)
            m = f.next_output()
            if f.out[0] == 0x2F and f.out[3] == 20:  # NOT_READY: the pair's job, the REQ again
                drain_events(f)
                _jobs(f, now)
                f.receive(s.out, n, now)
                m = f.next_output()
            _rec(nat, rec == "S")
            t2 = ticks_us()
            s.receive(f.out, m, now)
            _jobs(s, now)
            n = s.next_output()
            _rec(nat, rec == "F")
            t3 = ticks_us()
            f.receive(s.out, n, now)
            _jobs(f, now)
            m = f.next_output()
            code_f = f.next_event()
            _rec(nat, rec == "S")
            t4 = ticks_us()
            s.receive(f.out, m, now)
            code_s = s.next_event()
            t5 = ticks_us()
            if nat is not None:
                nat.on = False
                nat.remove()
                nats[rec] = nat
                xs["on"] = None
            if code_f != events.ESTABLISHED or code_s != events.ESTABLISHED:
                raise RuntimeError("suite %d handshake %d: %s / %s" % (
                    suite, k, events.NAMES[code_f], events.NAMES[code_s]))
            sids[i] = f.ev_sid
            if P["warm"] <= k < last:
                gcs.append(_instr(tg, t0))
                f_counts.append(_instr(t1, t2) + _instr(t3, t4))
                s_counts.append(_instr(t0, t1) + _instr(t2, t3) + _instr(t4, t5))
        f = s = ss = None  # the stations' heap back before the floors are compiled
        floors = {}
        for who, nat in nats.items():
            gc.collect()
            fn = nat.floor()
            gc.collect()
            t0 = ticks_us()
            fn()
            floors[who] = _instr(t0, ticks_us())
        emit("handshake", suite=suite, first=f_counts, second=s_counts, gc=gcs,
             first_floor=floors["F"], second_floor=floors["S"], first_x25519=xs["F"],
             second_x25519=xs["S"], first_calls=nats["F"].counts(),
             second_calls=nats["S"].counts())


def _rec(nat, on):
    """Natives recording on for the role whose turn it is (outside the timing
    of nothing: the recording handshakes are not counted)."""
    if nat is not None:
        nat.on = on


def _count_x25519(st, who, xs):
    """Count the X25519 runs station st starts while xs["on"] == who."""
    job = getattr(st, "_x", None)
    if job is None:
        return
    start = job.start

    def counted(out, scalar, u=None):
        if xs.get("on") == who:
            xs[who] += 1
        start(out, scalar, u)

    job.start = counted


def c_datapath(P):
    """Per DATA frame: seal (protect) and open (unprotect) of one payload, through
    ephkey.channel and its CcmEngine, averaged over `iters`; and the raw cryptolib
    work of one CCM pass over the same bytes (CBC-MAC over B0, the header block
    and the padded payload; ECB over the counter blocks A_0 .. A_m)."""
    sizes = P["sizes"]
    maxp = max(sizes)
    eng = CcmEngine(maxp, wire.PROT_HDR)
    key = bytes(range(16))
    ck = CcmKey(key)
    nonce = bytearray(13)
    buf = bytearray(wire.PROT_HDR + maxp + 8)
    out = bytearray(maxp)
    ecb = cryptolib.aes(key, 1)
    cbc = cryptolib.aes(key, 2, bytes(16))
    sid = 0x1234
    iters = P["iters"]
    for size in sizes:
        pt = bytearray((i * 7 + 1) & 255 for i in range(size))
        n = channel.seal(eng, ck, nonce, buf, wire.DATA, sid, 1, 0, 0, pt, size)
        if channel.open_(eng, ck, nonce, buf, n, sid, 1, 0, 0, out) != size or out[:size] != pt:
            raise RuntimeError("CCM round trip failed at %d bytes" % size)
        blocks = (size + 15) // 16
        mac_in = bytearray(16 * (1 + (2 + wire.PROT_HDR + 15) // 16 + blocks))
        mac_out = bytearray(len(mac_in))
        ctr = bytearray(16 * (blocks + 1))
        ks = bytearray(len(ctr))
        gc.collect()
        t0 = ticks_us()
        for seq in range(iters):
            channel.seal(eng, ck, nonce, buf, wire.DATA, sid, 1, 0, seq, pt, size)
        t1 = ticks_us()
        for seq in range(iters):
            n = channel.seal(eng, ck, nonce, buf, wire.DATA, sid, 1, 0, seq, pt, size)
            channel.open_(eng, ck, nonce, buf, n, sid, 1, 0, seq, out)
        t2 = ticks_us()
        for _ in range(iters):
            cbc.encrypt(mac_in, mac_out)
        t3 = ticks_us()
        for _ in range(iters):
            ecb.encrypt(ctr, ks)
        t4 = ticks_us()
        for _ in range(iters):
            pass
        t5 = ticks_us()
        loop = _instr(t4, t5)
        seal = (_instr(t0, t1) - loop) / iters
        both = (_instr(t1, t2) - loop) / iters
        emit("datapath", size=size, iters=iters, seal=round(seal), open=round(both - seal),
             cbc=round((_instr(t2, t3) - loop) / iters),
             ecb=round((_instr(t3, t4) - loop) / iters),
             mac_blocks=len(mac_in) // 16, ctr_blocks=len(ctr) // 16)


def c_x25519(P):
    """One X25519 with the module's implementation (the native module where it
    loads), and, when that is the native one, one through the viper code too."""
    import ephkey.x25519 as xm

    scalar = bytes((i * 13 + 5) & 255 for i in range(32))
    u = x25519_base(bytes((i * 29 + 3) & 255 for i in range(32)))
    gc.collect()
    t0 = ticks_us()
    x25519(scalar, u)
    t1 = ticks_us()
    gc.collect()
    t2 = ticks_us()
    x25519_base(scalar)
    t3 = ticks_us()
    rec = {"x25519": _instr(t0, t1), "x25519_base": _instr(t2, t3)}
    if xm.NATIVE:
        from ephkey import _x25519_viper

        job = xm.X25519Job(_x25519_viper)
        out = bytearray(32)
        gc.collect()
        t0 = ticks_us()
        job.start(out, scalar, u)
        job.step()
        rec["x25519_viper"] = _instr(t0, ticks_us())
    emit("x25519", **rec)


emit("start", task="icount", vm=vm_info())
try:
    c_handshakes(P)
    c_datapath(P)
    c_x25519(P)
    emit("end", task="icount")
except Exception as e:  # reported, then the emulator ends all the same
    sys.print_exception(e)
emu.exit(0)
