# ruff: noqa: F821 - run appended to common.py, which defines the helpers used here
# Task "s3": the CPU of one suite-3 handshake (docs/protocol.md 15.10) at each
# station, against a suite-2 handshake in the same run: every receive() and
# work() call timed, the longest work() call too (one X25519 slice, CPace's
# generator, or a job's completion: what the event loop waits for, 4.7).
# F's interval key pair is made before (prepare, not counted: it is shared by
# the interval's requests). Times are ticks_us() differences: microseconds on
# the unix VM, 1000 instructions each on the emulated board (-icount).

from time import ticks_diff, ticks_us  # type: ignore[attr-defined]

SECRET = b"bench user secret"
GC_EACH = P.get("gc_each", False)


def _timed(acc, fn, *args):
    t0 = ticks_us()
    fn(*args)
    d = ticks_diff(ticks_us(), t0)
    acc["total"] += d
    return d


def _jobs(acc, st, now):
    while st.busy():
        phase = getattr(st, "_phase", 0)  # which unit of the job this call runs
        if GC_EACH:
            gc.collect()  # no collection inside a unit: what the unit itself costs
        d = _timed(acc, st.work, now)
        acc["work_calls"] += 1
        if d > acc["max_work"]:
            acc["max_work"] = d
            acc["max_phase"] = phase
        acc["units"].append((d, phase))
        acc["units"].sort(reverse=True)
        del acc["units"][3:]


def _pass(src, dst, acc, now):
    n = src.next_output()
    if not n:
        raise RuntimeError("no frame")
    frame = bytes(src.out[:n])
    _timed(acc, dst.receive, frame, n, now)


def handshake(suite, n):
    if suite == 3:
        f = FirstStation(FirstConfig(suites=(3,), sessions=2), [Pairing(ID_F, b"BS3USER0",
                                                                         user=SECRET)],
                         Drbg(b"s3 F"), 0)
        s = SecondStation(SecondConfig(offer=(3,)), Pairing(ID_F, b"BS3USER0", user=True),
                          Drbg(b"s3 S"), 0)
    else:
        f = first(2, 1, rng=Drbg(b"s2 F"), sessions=2)
        s = second(2, 0, rng=Drbg(b"s2 S"))
    out = []
    for i in range(n):
        now = 1000 + i
        f.prepare(now)
        while f.busy():
            f.work(now)
        acc = {"F": {"total": 0, "max_work": 0, "work_calls": 0, "max_phase": 0,
                     "units": []},
               "S": {"total": 0, "max_work": 0, "work_calls": 0, "max_phase": 0,
                     "units": []}}
        gc.collect()  # each handshake from a collected heap (a collection is not the job's)
        if suite == 3:
            _timed(acc["S"], s.connect, now, SECRET)
        else:
            _timed(acc["S"], s.connect, now)
        _pass(s, f, acc["F"], now)  # REQ
        _jobs(acc["F"], f, now)  # suite 3: the share's job
        _pass(f, s, acc["S"], now)  # SRK
        _jobs(acc["S"], s, now)
        _pass(s, f, acc["F"], now)  # PROOF
        _jobs(acc["F"], f, now)
        _pass(f, s, acc["S"], now)  # KEY
        got = drain_events(f) + drain_events(s)
        if got != ["ESTABLISHED", "ESTABLISHED"]:
            raise RuntimeError("suite %d handshake: %r" % (suite, got))
        f.close(s.sid, now)
        s.close(now)
        drain_out(f)
        drain_out(s)
        out.append(acc)
    return out


def t_s3(P):
    for suite in (2, 3):
        runs = handshake(suite, P["rounds"])
        emit("s3", suite=suite, runs=runs)


TASKS = {"s3": t_s3}
run_task(TASKS, P)
