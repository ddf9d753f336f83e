# ruff: noqa: F821 - run appended to common.py, which defines the helpers used here
# Handshake CPU of the first station against honest floors (issues 12 and 14),
# run by tools/bench_hs.py in the MicroPython unix VM (or on a board).
#
# Task "floor": the first station's CPU per suite-1 handshake (its receive()
# calls and the pops of what they queued: Pair.handshake) against the native
# primitives it needs: every hashlib and cryptolib call it made, recorded
# once (Natives) and replayed alone as one straight-line function, timed in
# the same run, handshake and floor taking turns. Target: at most 2x.
#
# Task "forged": what a PROOF forged without PS costs F (docs/protocol.md 4.5,
# the cost bound): receive() of a suite-2 PROOF with a wrong t for a live
# half-open slot, against an early reject (a PROOF for an unknown sid), each
# with its ERROR answer popped, proof_tries at its maximum (255) so the slot
# stays; a new REQ of the same peer renews the slot before its count runs
# out. Target: at most 2x.
#
# Task "slices": every work() call of a suite-2 handshake at both stations
# (the key pair's job at F, S's PROOF job, F's check), timed one by one: the
# longest is what the event loop waits for between two frames (4.7).
#
# Times are ticks_us() differences: microseconds on the unix VM; on the
# emulated board (P["emu"], QEMU -icount shift=0) 1000 instructions each.

from time import ticks_diff, ticks_us  # type: ignore[attr-defined]


def _rng(name):
    return Drbg(b"hs_cost " + name)  # deterministic, and the emulated board has no os.urandom


def _raw(name):
    """The raw source under the stations' DRBG: os.urandom, or on the emulated
    board (no hardware RNG) the SHA-256 counter generator standing in for it."""
    return getattr(os, "urandom", None) or _rng(b"raw " + name)


def t_floor(P):
    """F's CPU per suite-1 handshake with its production RNG (health tests and
    HMAC_DRBG over the raw source), against the floor: every hashlib and
    cryptolib call F made (the DRBG's SHA-256 calls included) and its raw
    source draws, replayed alone. The GC runs inside F's timing: one
    collection per round, counted in F's time; the floor runs after a
    collection outside its timing, so no GC pause lands in it."""
    st = P["stations"]
    raw = RawRecorder(_raw(b"F"))
    pair = Pair(first(1, st, rng=station_rng_over(raw), sessions=st),
                [second(1, i, rng=_rng(b"S%d" % i)) for i in range(st)])
    pair.gc_between = False
    now = 1000
    k = 0
    for _ in range(P["warm"]):
        now += 1
        pair.handshake(k % P["stations"], now)
        k += 1
    # record the native calls of one handshake (the first station's only)

    def one(hook):
        pair.on_f = hook
        pair.handshake(k % P["stations"], now + 1)
        pair.on_f = None

    floor, nat, sizes = record_floor(raw, one)
    now += 1
    k += 1
    ours = []
    natv = []
    ratio = []
    gcs = []
    for _ in range(P["rounds"]):
        t_ours = 0
        t_nat = 0
        for _ in range(P["per_round"]):
            now += 1
            t_ours += pair.handshake(k % P["stations"], now)
            k += 1
            gc.collect()  # outside the floor's timing: no GC pause lands in the native work
            t0 = ticks_us()
            floor()
            t_nat += ticks_diff(ticks_us(), t0)
        t0 = ticks_us()
        gc.collect()  # the round's garbage, collected inside the timing
        t_gc = ticks_diff(ticks_us(), t0)
        t_ours += t_gc
        gcs.append(t_gc / P["per_round"])
        ours.append(t_ours / P["per_round"])
        natv.append(t_nat / P["per_round"])
        ratio.append(ours[-1] / natv[-1])
    emit("floor", suite=1, hs_us=spread(ours), native_us=spread(natv), ratio=spread(ratio),
         gc_us=spread(gcs), calls=nat.counts(), raw_draws=list(sizes))


def _req_once(f, s, now, gc_each):
    """One REQ of second station s at F: F's CPU (us), and whether it answered SRK."""
    s.connect(now)
    n = s.next_output()
    req = bytes(s.out[:n])
    t0 = ticks_us()
    f.receive(req, n, now)
    while f.busy():
        f.work(now)
    m = f.next_output()
    if m and f.out[0] == 0x2F and f.out[3] == 20:  # NOT_READY: the pair's job ran
        drain_events(f)
        f.receive(req, n, now)  # S's retransmission
        while f.busy():
            f.work(now)
        m = f.next_output()
    ok = bool(m) and f.out[0] == 0x22
    drain_out(f)
    drain_events(f)
    if gc_each:
        gc.collect()
    return ticks_diff(ticks_us(), t0), ok


def t_flood(P):
    """A suite-2 REQ flood at one first station: REQs only, no PROOF follows.

    shared: one key pair per interval (section 11 defaults, the clock moving
    1 ms per REQ); fresh: a new key pair per request (100 ms intervals, the
    clock moving 100 ms per REQ): claim 2's comparison. The modes take turns
    REQ by REQ; each round ends with a collection inside the timing."""
    runs = []
    for mode in ("shared", "fresh"):
        cfg, step = MODES[mode]
        f = first(2, P["peers"], rng=_rng(b"F" + mode), sessions=P["sessions"], **cfg)
        ss = [second(2, i, rng=_rng(b"S%d" % i)) for i in range(P["peers"])]
        runs.append([mode, f, ss, step, 1000, [], 0])
    for r in runs:  # warm-up: the first interval's pair
        for i in range(P["warm"]):
            r[4] += r[3]
            _req_once(r[1], r[2][i % len(r[2])], r[4], False)
    k = 0
    for _ in range(P["rounds"]):
        tot = [0, 0]
        for _ in range(P["per_round"]):
            for j, r in enumerate(runs):
                r[4] += r[3]
                us, ok = _req_once(r[1], r[2][k % len(r[2])], r[4], False)
                if not ok:
                    raise RuntimeError("flood %s: no SRK frame" % r[0])
                tot[j] += us
            k += 1
        for j, r in enumerate(runs):
            t0 = ticks_us()
            gc.collect()
            tot[j] += ticks_diff(ticks_us(), t0)
            r[5].append(tot[j] / P["per_round"])
    sh, fr = runs[0][5], runs[1][5]
    emit("flood", shared_us=spread(sh), fresh_us=spread(fr),
         ratio=spread([fr[i] / sh[i] for i in range(len(sh))]),
         pairs_shared=runs[0][1].ring.created2, pairs_fresh=runs[1][1].ring.created2)


def t_drbg(P):
    """One draw of the stations' RNG (health tests + HMAC_DRBG) of the size a
    suite-1 REQ takes at F (16 + 2 + 12 + 16 K bytes, K = 4), against its
    native floor: the SHA-256 calls the draw made and its raw draws, replayed
    alone. Draws are timed one by one, every reseed among them included."""
    n = 16 + 2 + 12 + 16 * 4
    raw = RawRecorder(_raw(b"drbg"))
    rng = station_rng_over(raw)
    for _ in range(3):
        rng(n)

    def one(hook):
        hook(True)
        rng(n)

    floor, nat, sizes = record_floor(raw, one)
    per = []
    fl = []
    for _ in range(P["rounds"]):
        t = 0
        for _ in range(P["per_round"]):
            t0 = ticks_us()
            rng(n)
            t += ticks_diff(ticks_us(), t0)
        t0 = ticks_us()
        gc.collect()
        t += ticks_diff(ticks_us(), t0)
        per.append(t / P["per_round"])
        t_fl = 0
        for _ in range(P["per_round"]):
            gc.collect()  # outside the floor's timing
            t0 = ticks_us()
            floor()
            t_fl += ticks_diff(ticks_us(), t0)
        fl.append(t_fl / P["per_round"])
    emit("drbg", bytes=n, draw_us=spread(per), native_us=spread(fl), calls=nat.counts(),
         raw_draws=list(sizes), reseed_every=rng.reseed_every)


def t_x25519(P):
    """One X25519 (scalar x point) through ephkey.x25519 (the native module
    where it loads, else viper): time, and bytes allocated per call
    (gc.mem_alloc growth with the GC off)."""
    import ephkey.x25519 as xm
    scalar = bytes((i * 13 + 5) & 255 for i in range(32))
    u = bytes((i * 29 + 3) & 255 for i in range(31)) + b"\x00"
    out = bytearray(32)
    xm.x25519_into(out, scalar, u)
    ts = []
    for _ in range(P["reps"]):
        gc.collect()
        t0 = ticks_us()
        xm.x25519_into(out, scalar, u)
        ts.append(ticks_diff(ticks_us(), t0))
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    xm.x25519_into(out, scalar, u)
    a1 = gc.mem_alloc()
    gc.enable()
    emit("x25519", us=spread(ts), alloc_bytes=a1 - a0, impl="native" if xm.NATIVE else "viper")


def _proof_frames(sid, bad_sid):
    forged = bytearray(59)
    forged[0] = 0x23
    forged[1] = sid >> 8
    forged[2] = sid & 0xFF
    for i in range(3, 59):
        forged[i] = (i * 29 + 7) & 0xFF
    early = bytearray(forged)
    early[1] = bad_sid >> 8
    early[2] = bad_sid & 0xFF
    return forged, early


def t_forged(P):
    f = first(2, 1, rng=_rng(b"F"), sessions=8, proof_tries=255)
    s = second(2, 0, rng=_rng(b"S"))
    now = 1000
    f.prepare(now)
    while f.busy():
        f.work(now)

    def fresh_slot():
        s.connect(now)
        n = s.next_output()
        f.receive(s.out, n, now)
        m = f.next_output()
        drain_events(f)
        if not m or f.out[0] != 0x22:
            raise RuntimeError("no SRK frame")
        sid = (f.out[1] << 8) | f.out[2]
        return sid

    sid = fresh_slot()
    bad = sid ^ 0x5555 or 1
    forged, early = _proof_frames(sid, bad)
    n = 59
    per = P["per_round"]
    t_f = []
    t_e = []
    ratio = []
    jobs = 0
    codes = {}
    for r in range(P["rounds"] + 1):
        sid = fresh_slot()  # fails = 0 again (4.2 step 3 (a): the same peer's slot)
        forged, early = _proof_frames(sid, bad)
        collect()
        tf = 0
        te = 0
        for _ in range(per):
            t0 = ticks_us()
            f.receive(forged, n, now)
            f.next_output()
            code_f = f.next_event()
            t1 = ticks_us()
            f.receive(early, n, now)
            f.next_output()
            code_e = f.next_event()
            t2 = ticks_us()
            tf += ticks_diff(t1, t0)
            te += ticks_diff(t2, t1)
            jobs += f.busy()
            codes[f.ev_arg] = codes.get(f.ev_arg, 0) + 1
            if code_f != events.ERROR or code_e != events.ERROR:
                raise RuntimeError("forged %d early %d" % (code_f, code_e))
        if r == 0:
            continue  # warm-up
        t_f.append(tf / per)
        t_e.append(te / per)
        ratio.append(t_f[-1] / t_e[-1])
    t = f.table
    emit("forged", forged_us=spread(t_f), early_us=spread(t_e), ratio=spread(ratio),
         jobs_created=jobs, slot_fails=t.fails[t.find_sid(sid)], early_codes=codes)


def t_slices(P):
    f = first(2, 1, rng=_rng(b"F"), sessions=4)
    s = second(2, 0, rng=_rng(b"S"))
    now = 1000
    units = {"F": [], "S": []}
    kinds = {"F": [], "S": []}

    def run(st, who, kind):
        while st.busy():
            t0 = ticks_us()
            st.work(now)
            units[who].append(ticks_diff(ticks_us(), t0))
            kinds[who].append(kind)

    for _ in range(P["rounds"]):
        now += 1
        if f.prepare(now):  # the interval's key pair (its job), as the event loop does
            run(f, "F", "key pair")
        s.connect(now)
        n = s.next_output()
        f.receive(s.out, n, now)
        m = f.next_output()
        s.receive(f.out, m, now)
        run(s, "S", "PROOF job")
        n = s.next_output()
        f.receive(s.out, n, now)
        run(f, "F", "check")
        m = f.next_output()
        s.receive(f.out, m, now)
        if f.next_event() != events.ESTABLISHED or s.next_event() != events.ESTABLISHED:
            raise RuntimeError("suite-2 handshake failed")
        f.close(s.sid, now)
        drain_out(f)
        s.close(now)
        drain_out(s)
        drain_events(f)
        drain_events(s)
    out = {}
    for who in ("F", "S"):
        u = units[who]
        worst = max(range(len(u)), key=lambda i: u[i])
        out[who] = {"n": len(u), "max": u[worst], "max_kind": kinds[who][worst],
                    "median": median(u), "total": sum(u) / P["rounds"]}
    emit("slices", stations=out)


TASKS = {"floor": t_floor, "forged": t_forged, "slices": t_slices, "flood": t_flood,
         "drbg": t_drbg, "x25519": t_x25519}
run_task(TASKS, P)
