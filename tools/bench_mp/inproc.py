# ruff: noqa: F821 - run appended to common.py, which defines the helpers used here
# In-process benches of one first station under MicroPython (tools/bench.py).
#
# Appended to common.py and run with a parameter dict P; P["task"] picks one
# of the TASKS below. Everything is measured inside the VM with ticks_us and
# gc.mem_alloc, and printed as `BENCH {json}` lines.

# Scaling runs: interval 10 s, L 5 s, M 3 allow a ring of 3 slots and up.
SCALE_BASE = {"interval_ms": 10000, "lifetime_ms": 5000, "m": 3}


def _frozen(x):
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    return x


def record_calls(pair, i, now):
    """Run one handshake with the first station's native calls recorded.

    Every hashlib and cryptolib call it makes while it works (its receive()
    and work() calls: Pair.on_f), not the second stations'. Returns the
    Natives record; ``rec.fn()`` replays those calls alone (the floor).
    """

    def one(hook):
        pair.on_f = hook
        try:
            pair.handshake(i, now)
        finally:
            pair.on_f = None

    nat = record_floor(None, one)[1]
    nat.fn = nat.floor()
    return nat


def replay_us(rec, times):
    fn = rec.fn
    t0 = ticks_us()
    for _ in range(times):
        fn()
    return ticks_diff(ticks_us(), t0) / times


def _op_name(op):
    return "sha256" if op[0] == "sha" else ("aes()" if op[0] == "aes" else "aes." + op[2])


def breakdown(rec, times):
    """Per recorded native call: name, microseconds (the best of 5 batches),
    input lengths."""
    out = []
    per = max(1, times // 5)
    made = {}
    for op in rec.ops:
        ops = [op]
        if op[0] == "call" and op[1] in made:
            ops = [made[op[1]], op]  # the call on a fresh object, the object not timed apart
        if op[0] == "aes":
            made[op[1]] = op
        fn = floor_of(ops, rec._real)
        dt = None
        for _ in range(5):
            collect()
            t0 = ticks_us()
            for _ in range(per):
                fn()
            d = ticks_diff(ticks_us(), t0) / per
            dt = d if dt is None or d < dt else dt
        lens = [len(p) for p in op[1]] if op[0] == "sha" else (
            [len(op[2])] if op[0] == "aes" else [len(op[3])])
        out.append({"call": _op_name(op), "us": dt, "args": lens})
    return out


def t_probe(P):
    res = {}
    for suite in (1, 2):
        try:
            pair = make_pair(suite, 1)
            pair.handshake(0, 1000)
            pair.handshake(0, 1001)
            res["suite%d" % suite] = {"ok": True}
        except Exception as e:  # noqa: BLE001 - any failure is the answer
            res["suite%d" % suite] = {"ok": False, "reason": "%s: %s" % (type(e).__name__, e)}
    res["prepare"] = hasattr(FirstStation, "prepare")
    try:
        import tls
        res["mbedtls"] = tls.MBEDTLS_VERSION
    except (ImportError, AttributeError):
        res["mbedtls"] = None
    res["vm"] = vm_info()
    emit("probe", **res)


class _Mode:
    """One first station (with its second stations) in one clock mode."""

    def __init__(self, suite, stations, mode):
        self.name = mode
        self.cfg, self.step = MODES[mode]
        self.stations = stations
        self.pair = make_pair(suite, stations, sessions=stations, **self.cfg)
        self.now = 1000
        self.k = 0
        self.per_hs = []
        self.floor = []
        self.ratio = []
        self.rec = None
        self.alloc = 0
        self.alloc_method = ""

    def handshake(self):
        self.now += self.step
        us = self.pair.handshake(self.k % self.stations, self.now)
        self.k += 1
        return us

    def record(self):
        self.now += self.step
        self.rec = record_calls(self.pair, self.k % self.stations, self.now)
        self.k += 1

    def count_alloc(self, gc_off):
        """Bytes the first station allocates in one handshake.

        gc_off: the gc.mem_alloc() growth with the GC off around its calls (what
        it leaves for the GC). Else MicroPython's malloc statistics
        (mem_total), which also count call states freed on return: suite 2's
        X25519 leaves more garbage than a 2 MB heap holds with the GC off.
        """
        held = [0, 0]

        def count(active):
            if active:
                if gc_off:
                    gc.disable()
                held[0] = gc.mem_alloc() if gc_off else mem_total()
            else:
                held[1] += (gc.mem_alloc() if gc_off else mem_total()) - held[0]
                gc.enable()

        self.pair.on_f = count
        self.handshake()
        self.pair.on_f = None
        self.alloc = held[1]
        self.alloc_method = "gc.mem_alloc, GC off" if gc_off else "micropython.mem_total"

    def close_round(self, total, floor, n):
        self.per_hs.append(total / n)
        self.floor.append(floor / n)
        self.ratio.append(self.floor[-1] / self.per_hs[-1])


def t_capacity(P):
    """Handshakes/s of one first station, and its floor, interleaved.

    A round times `per_round` handshakes of each mode (the first station's
    part only), each followed by one replay of that mode's crypto calls, the
    modes taking turns handshake by handshake: what is divided is measured
    moments apart, so the ratios survive a noisy machine. The GC runs inside
    the timing: each round ends with one collection per mode, counted in that
    mode's handshakes (the whole heap's, second stations included: an upper
    bound), and GCs that the timed code triggers stay in; the floor's native
    calls have none.
    alloc_bytes says how much the first station allocates per handshake.
    """
    suite = P["suite"]
    modes = [_Mode(suite, P["stations"], m) for m in P["modes"]]
    for m in modes:
        for _ in range(P["warm"]):
            m.handshake()
        m.record()
        m.count_alloc(suite == 1)
    n = P["per_round"]
    for m in modes:
        m.pair.gc_between = False
    for _ in range(P["rounds"]):
        # interleaved handshake by handshake: each mode's handshake, then its floor
        total = [0] * len(modes)
        floor = [0] * len(modes)
        for _ in range(n):
            for j, m in enumerate(modes):
                total[j] += m.handshake()
                floor[j] += replay_us(m.rec, 1)
        for j in range(len(modes)):
            t0 = ticks_us()
            gc.collect()  # the round's garbage, inside the timing
            total[j] += ticks_diff(ticks_us(), t0)
        for j, m in enumerate(modes):
            m.close_round(total[j], floor[j], n)
    for m in modes:
        counts = m.rec.counts()
        emit("capacity", suite=suite, mode=m.name, config=m.cfg, clock_step_ms=m.step,
             stations=m.stations, hs_us=spread(m.per_hs),
             hs_per_s=spread([1e6 / x for x in m.per_hs]), floor_us=spread(m.floor),
             floor_hs_per_s=spread([1e6 / x for x in m.floor]), ratio=spread(m.ratio),
             calls=counts, alloc_bytes=m.alloc, alloc_method=m.alloc_method,
             breakdown=breakdown(m.rec, P["breakdown_reps"]),
             srk_created=m.pair.f.ring.created,
             pairs_created=getattr(m.pair.f.ring, "created2", 0))
    if len(modes) == 2:
        a, b = modes
        emit("capacity_pair", suite=suite, modes=[a.name, b.name],
             ratio=spread([b.per_hs[i] / a.per_hs[i] for i in range(len(a.per_hs))]))


def t_datapath(P):
    import cryptolib

    from ephkey import channel, wire
    from ephkey.crypto import CcmEngine, CcmKey

    sizes = P["sizes"]
    maxp = max(sizes)
    eng = CcmEngine(maxp, wire.PROT_HDR)
    key = os.urandom(16)
    ck = CcmKey(key)
    nonce = bytearray(13)
    buf = bytearray(wire.PROT_HDR + maxp + 8)
    out = bytearray(maxp)
    ecb = cryptolib.aes(key, 1)
    cbc = cryptolib.aes(key, 2, bytes(16))
    sid = 0x1234
    for size in sizes:
        pt = bytearray(os.urandom(size))
        n = channel.seal(eng, ck, nonce, buf, wire.DATA, sid, 1, 0, 0, pt, size)
        if channel.open_(eng, ck, nonce, buf, n, sid, 1, 0, 0, out) != size or out[:size] != pt:
            raise RuntimeError("CCM round trip failed at %d bytes" % size)
        iters = max(P["min_iters"], P["bytes_per_round"] // max(size, 16))
        # the native AES work of one seal + one open: per CCM pass, one CBC-MAC
        # over B0, the AAD block(s) and the padded payload, and one ECB over
        # the counter blocks A_0 .. A_m
        blocks = (size + 15) // 16
        mac_in = bytearray(16 * (1 + (2 + wire.PROT_HDR + 15) // 16 + blocks))
        mac_out = bytearray(len(mac_in))
        ctr = bytearray(16 * (blocks + 1))
        ks = bytearray(len(ctr))
        ours = []
        floor = []
        ratio = []
        chunk = max(1, iters // 32)
        seq = 0
        # ours and the floor take turns, chunk by chunk; the first round warms up
        for r in range(P["rounds"] + 1):
            t_ours = 0
            t_floor = 0
            for _ in range(iters // chunk):
                t0 = ticks_us()
                for _ in range(chunk):
                    n = channel.seal(eng, ck, nonce, buf, 5, sid, 1, 0, seq, pt, size)
                    channel.open_(eng, ck, nonce, buf, n, sid, 1, 0, seq, out)
                    seq += 1
                t1 = ticks_us()
                for _ in range(chunk):
                    cbc.encrypt(mac_in, mac_out)
                    ecb.encrypt(ctr, ks)
                    cbc.encrypt(mac_in, mac_out)
                    ecb.encrypt(ctr, ks)
                t_floor += ticks_diff(ticks_us(), t1)
                t_ours += ticks_diff(t1, t0)
            if r == 0:
                continue
            done = (iters // chunk) * chunk
            ours.append(t_ours / done)
            floor.append(t_floor / done)
            ratio.append(floor[-1] / ours[-1])
        emit("datapath", size=size, iters=iters, us=spread(ours), floor_us=spread(floor),
             ratio=spread(ratio),
             mac_blocks=len(mac_in) // 16, ctr_blocks=len(ctr) // 16)


class _Flow:
    """DATA frames both ways through both stations and the link layer.

    A method, not a closure: calling a closure over many cells allocates its
    argument array, which would be counted against the data path.
    """

    def __init__(self, pair, size):
        from ephkey.link import MAX_FRAME, LinkRx, LinkTx

        self.f = pair.f
        self.s = pair.s[0]
        self.sid = pair.sid[0]
        self.pl = bytearray(os.urandom(size))
        self.size = size
        self.now = 1000
        self.tx_f, self.tx_s = LinkTx(MAX_FRAME), LinkTx(MAX_FRAME)
        self.rx_f, self.rx_s = LinkRx(MAX_FRAME), LinkRx(MAX_FRAME)
        self.events = 0

    def frames(self, n):
        """n round trips: F.send -> link -> S.receive, S.send -> link -> F.receive."""
        f = self.f
        s = self.s
        now = self.now
        for _ in range(n):
            f.send(self.sid, self.pl, self.size, now)
            k = f.next_output()
            w = self.tx_f.encode(f.out, k)
            self.rx_s.feed(self.tx_f.out, 0, w)
            fr = self.rx_s.frame
            s.receive(fr, len(fr), now)
            self.events += s.next_event()
            s.send(self.pl, self.size, now)
            k = s.next_output()
            w = self.tx_s.encode(s.out, k)
            self.rx_f.feed(self.tx_s.out, 0, w)
            fr = self.rx_f.frame
            f.receive(fr, len(fr), now)
            self.events += f.next_event()


def t_alloc(P):
    """Bytes allocated per DATA frame, the whole path (station + link layer).

    gc.mem_alloc() over n round trips with the GC off; then the same with the
    heap locked (any allocation raises MemoryError). mem_total (MicroPython's
    malloc statistics, where the build has them) also counts call frames the
    VM puts on the heap and frees on return (functions with many locals);
    those leave no garbage and fall back to the C stack when the heap is
    locked, so the figure is the gc.mem_alloc delta.
    """

    from ephkey import wire

    pair = make_pair(1, 1, rotate_frames=1 << 28)
    pair.handshake(0, 1000)
    res = {}
    for size in P["sizes"]:
        flow = _Flow(pair, size)
        flow.frames(8)
        if flow.events != 16 * events.DATA:
            raise RuntimeError("data path: events %d" % flow.events)
        n = P["frames"]
        collect()
        gc.disable()
        a0 = gc.mem_alloc()
        t0 = mem_total()
        flow.frames(n)
        a1 = gc.mem_alloc()
        t1 = mem_total()
        gc.enable()
        locked = None
        if micropython and hasattr(micropython, "heap_lock"):
            locked = True
            micropython.heap_lock()
            try:
                flow.frames(n)
            except MemoryError:
                locked = False
            micropython.heap_unlock()
        # baseline: what an API returning each frame as new bytes allocates at
        # the least (a bytes object of header + payload + tag), per frame
        collect()
        gc.disable()
        b0 = gc.mem_alloc()
        for _ in range(n):
            bytes(wire.PROT_HDR + size + wire.TAG)
        b1 = gc.mem_alloc()
        gc.enable()
        nf = n
        res[str(size)] = {"frames": 2 * n, "gc_bytes": a1 - a0,
                          "mem_total_bytes": (t1 - t0) if t0 >= 0 else None,
                          "heap_locked_ok": locked, "functional_bytes": b1 - b0,
                          "functional_frames": nf}
    emit("alloc", sizes=res)


def t_x25519(P):
    from ephkey.x25519 import x25519, x25519_base

    scalar = os.urandom(32)
    u = x25519_base(os.urandom(32))
    times = []
    base = []
    for _ in range(P["reps"]):
        collect()
        t0 = ticks_us()
        x25519(scalar, u)
        times.append(ticks_diff(ticks_us(), t0))
        collect()
        t0 = ticks_us()
        x25519_base(scalar)
        base.append(ticks_diff(ticks_us(), t0))
    t0 = mem_total()
    x25519(scalar, u)
    alloc = mem_total() - t0 if t0 >= 0 else None
    emit("x25519", us=spread(times), base_us=spread(base), alloc_bytes=alloc)


def _record_log(suite, sessions, cfg, seed, now):
    """Input frames of a first station serving ``sessions`` concurrent handshakes.

    Its RNG is a Drbg(seed), so a new station with the same settings answers
    the same frames with the same frames: replaying the log measures the
    first station alone, without the second stations' memory.
    """
    f = FirstStation(first_cfg(suite, sessions=sessions, **cfg),
                     [pairing(i) for i in range(sessions)], Drbg(seed), now)
    ss = [SecondStation(second_cfg(suite), pairing(i), Drbg(b"S%d" % i), now)
          for i in range(sessions)]
    log = []
    proofs = []
    f.prepare(now)  # suite 2: the interval's key pair (the replay does the same)
    _jobs(f, now)
    for s in ss:
        s.connect(now)
        n = s.next_output()
        log.append(bytes(s.out[:n]))
        f.receive(s.out, n, now)
        m = f.next_output()
        s.receive(f.out, m, now)
        _jobs(s, now)
        n = s.next_output()
        proofs.append(bytes(s.out[:n]))
    for i, s in enumerate(ss):
        log.append(proofs[i])
        f.receive(proofs[i], len(proofs[i]), now)
        _jobs(f, now)
        m = f.next_output()
        s.receive(f.out, m, now)
        if s.next_event() != events.ESTABLISHED:
            raise RuntimeError("recording: session %d not established" % i)
    return log


def _jobs(st, now):
    while st.busy():
        st.work(now)


def t_memory(P):
    suite = P["suite"]
    seed = b"bench-F"
    now = 1000
    for c in P["configs"]:
        sessions = c["sessions"]
        cfg = {"ring_slots": c["ring_slots"], "idrks": c["idrks"]}
        cfg.update(SCALE_BASE)
        log = _record_log(suite, sessions, cfg, seed, now)
        if P.get("log_dir"):
            name = "%s/log_%d_%d_%d.bin" % (P["log_dir"], c["ring_slots"], sessions, c["idrks"])
            with open(name, "wb") as fh:
                for fr in log:
                    fh.write(bytes((len(fr),)))
                    fh.write(fr)
        m0 = collect()
        f = FirstStation(first_cfg(suite, sessions=sessions, **cfg),
                         [pairing(i) for i in range(sessions)], Drbg(seed), now)
        built = collect() - m0
        bound = P.get("peak_bound")
        peak = built
        est = 0
        f.prepare(now)
        _jobs(f, now)
        for fr in log:
            # with peak_bound: the GC is off during each receive(), so the live heap
            # before it + all it allocated bounds its peak from above (suite 1
            # only: an X25519 leaves far more garbage than it ever holds live)
            a = collect() if bound else 0
            if bound:
                gc.disable()
            f.receive(fr, len(fr), now)
            _jobs(f, now)
            drain_out(f)
            code = f.next_event()
            while code:
                if code == events.ESTABLISHED:
                    est += 1
                code = f.next_event()
            if bound:
                b = gc.mem_alloc()
                gc.enable()
                peak = max(peak, a - m0, b - m0)
        full = collect() - m0
        if est != sessions:
            raise RuntimeError("replay: %d of %d sessions established" % (est, sessions))
        emit("memory", suite=suite, config=c, built=built, full=full,
             peak_bound=peak if bound else None, established=est)
        f = None
        log = None
        collect()


def t_scaling(P):
    """First-station CPU time per suite-1 handshake as one parameter grows
    (each round ends with one collection per value, counted in its time).

    One first station per value, all alive at once, taking turns handshake by
    handshake, so that a busy spell of the machine hits every value alike;
    ratio: per round, each value's time over the first value's.
    """
    suite = P["suite"]
    param = P["param"]
    pts = []
    for v in P["values"]:
        cfg = {"ring_slots": 8, "sessions": 8, "idrks": 4}
        cfg.update(SCALE_BASE)
        cfg[param] = v
        pair = make_pair(suite, cfg["sessions"], **cfg)
        pts.append([v, pair, cfg["sessions"], 0, [], []])  # value, pair, stations, k, us, ratio
    now = 1000
    for _ in range(P["warm"]):
        for p in pts:
            now += 1
            p[1].handshake(p[3] % p[2], now)
            p[3] += 1
    for p in pts:
        p[1].gc_between = False
    for _ in range(P["rounds"]):
        totals = [0] * len(pts)
        for _ in range(P["per_round"]):
            for j, p in enumerate(pts):
                now += 1
                totals[j] += p[1].handshake(p[3] % p[2], now)
                p[3] += 1
        for j in range(len(pts)):
            t0 = ticks_us()
            gc.collect()  # the round's garbage, inside the timing
            totals[j] += ticks_diff(ticks_us(), t0)
        for j, p in enumerate(pts):
            p[4].append(totals[j] / P["per_round"])
            p[5].append(totals[j] / totals[0])
    for p in pts:
        emit("scaling", suite=suite, param=param, value=p[0], hs_us=spread(p[4]),
             ratio=spread(p[5]))


TASKS = {"probe": t_probe, "capacity": t_capacity, "datapath": t_datapath, "alloc": t_alloc,
         "x25519": t_x25519, "memory": t_memory, "scaling": t_scaling}

emit("start", task=P["task"], vm=vm_info())
TASKS[P["task"]](P)
emit("end", task=P["task"])
