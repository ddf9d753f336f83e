"""Issue 12, item by item, in the firmware (docs/protocol.md version 2).

Each test checks what version 1 got wrong: a forged PROOF cost F an X25519
and never killed its slot; unconfirmed sessions locked other peers out;
repeated PROOFs were compared by ``ct_tag`` only; a REQ after its SRK's
removal rebuilt the SRK frame from a zeroed slot; a full output queue
overwrote a queued frame; the handshake was 143 / 199 bytes. The ratchet
(item 3) is in test_ratchet.py, the key copies in RAM (item 4) in
tests/host/test_memscan.py.
"""

import pair
from ephkey import errors, wire
from ephkey.sessions import CHECKING, OPEN, WAIT_CONFIRM, WAIT_PROOF
from pair import deliver, drain, handshake, outputs, pairing, work

IV = 10000
L = 20000


def first(**kw):
    kw.setdefault("interval_ms", IV)
    kw.setdefault("lifetime_ms", L)
    return pair.first(**kw)


def second(i=0, **kw):
    return pair.second(i, **kw)


class Starts:
    """Records the X25519 runs a station starts."""

    def __init__(self, st):
        self.n = 0
        real = st._x.start

        def start(*a):
            self.n += 1
            real(*a)

        st._x.start = start


class Sha256Calls:
    """Counts SHA-256 computations of the first station (ephkey.first and
    ephkey.mac: an HMAC is two)."""

    def __init__(self):
        import ephkey.first as first_mod
        import ephkey.mac as mac_mod

        self.mods = (first_mod, mac_mod)
        self.real = mac_mod.hashlib
        self.n = 0
        counter = self

        class Counting:
            @staticmethod
            def sha256(*a):
                counter.n += 1
                return counter.real.sha256(*a)

        for m in self.mods:
            m.hashlib = Counting

    def restore(self):
        for m in self.mods:
            m.hashlib = self.real


def _to_srk(f, s, now=0):
    """REQ -> SRK frame (suite 2 key pair made first); S has the SRK frame."""
    f.prepare(now)
    work(f, now)
    s.connect(now)
    deliver(outputs(s), f, now)
    srk = outputs(f)[0]
    s.receive(srk, len(srk), now)
    work(s, now)
    return srk


def _forge(sid, n, k):
    """A PROOF a stranger can make for a public sid: anything but a valid t."""
    fr = bytearray(n)
    fr[0] = 0x23
    fr[1] = sid >> 8
    fr[2] = sid & 0xFF
    for i in range(3, n):
        fr[i] = (i * 31 + k * 7) & 0xFF
    return bytes(fr)


# ------------------------------------------------ item 1: CPU for free

def test_forged_proofs_compute_no_dh_and_the_slot_dies_after_proof_tries():
    f = first(proof_tries=3)
    s = second()
    srk = _to_srk(f, s)
    sid = wire.sid_of(srk)
    slot = f.table.find_sid(sid)
    x = Starts(f)
    h = Sha256Calls()
    try:
        for k in range(3):
            h.n = 0
            f.receive(_forge(sid, 59, k), 59, 10 + k)
            assert h.n == 2, h.n  # one HMAC (t): no key derivation, no transcript hash
            assert not f.busy() and x.n == 0  # no job, no X25519
            evs = drain(f)
            assert evs[0] == ("ERROR", sid, errors.AUTH_FAILED), evs
            assert outputs(f) == [b"\x2f" + srk[1:3] + bytes((errors.AUTH_FAILED,))]
            if k < 2:
                assert len(evs) == 1 and f.table.state[slot] == WAIT_PROOF
                assert f.table.fails[slot] == k + 1
        # the third failure frees the slot (keys zeroed) and reports it
        assert evs == [("ERROR", sid, errors.AUTH_FAILED),
                       ("HANDSHAKE_FAILED", sid, errors.AUTH_FAILED)], evs
        assert f.table.find_sid(sid) < 0
        assert f.table.kp[128 * slot:128 * slot + 128] == bytearray(128)
        # from now on every PROOF for that sid is an early reject, the genuine one too
        h.n = 0
        proof = outputs(s)[0]
        f.receive(proof, len(proof), 20)
        assert drain(f) == [("ERROR", sid, errors.UNKNOWN_SESSION)] and h.n == 0
        assert outputs(f) == [b"\x2f" + srk[1:3] + bytes((errors.UNKNOWN_SESSION,))]
    finally:
        h.restore()
    assert x.n == 0


def test_only_a_holder_of_ps_makes_f_compute_a_dh_at_most_proof_tries_times():
    f = first(proof_tries=2)
    s = second()
    _to_srk(f, s)
    proof = outputs(s)[0]
    sid = wire.sid_of(proof)
    x = Starts(f)
    # a holder of PS (here: the test, with KP from F's slot) can pass t with a
    # wrong c: each such PROOF costs one DH, and is counted (BAD_PROOF)
    from ephkey.mac import Mac
    slot = f.table.find_sid(sid)
    m = Mac()
    m.load(f.table.kp, 128 * slot)
    for k in range(2):
        bad = bytearray(proof)
        bad[40] ^= 1 + k
        m.mac(bad, 0, 51, bad, 0, 0, bad, 51, 8)
        f.receive(bad, 59, 1)
        assert f.table.state[slot] == CHECKING and drain(f) == []
        work(f, 1)
        assert x.n == k + 1
        evs = drain(f)
    assert evs == [("ERROR", sid, errors.BAD_PROOF), ("HANDSHAKE_FAILED", sid, errors.BAD_PROOF)]
    assert f.table.find_sid(sid) < 0


def test_a_low_order_e_pub_with_a_valid_t_is_counted_after_its_job():
    f = first(proof_tries=3)
    s = second()
    _to_srk(f, s)
    proof = outputs(s)[0]
    sid = wire.sid_of(proof)
    from ephkey.mac import Mac
    slot = f.table.find_sid(sid)
    m = Mac()
    m.load(f.table.kp, 128 * slot)
    bad = bytearray(proof)
    bad[3:35] = bytes(32)  # u = 0: all-zero DH
    m.mac(bad, 0, 51, bad, 0, 0, bad, 51, 8)
    f.receive(bad, 59, 1)
    work(f, 1)
    assert drain(f) == [("ERROR", sid, errors.AUTH_FAILED)]
    assert outputs(f) == [b"\x2f" + proof[1:3] + bytes((errors.AUTH_FAILED,))]
    assert f.table.fails[slot] == 1 and f.table.state[slot] == WAIT_PROOF
    f.receive(proof, 59, 2)  # the genuine PROOF still goes through
    work(f, 2)
    assert drain(f) == [("ESTABLISHED", sid, 0)]


# ------------------------------------------------ item 2: zombie sessions

def _lose_key(f, s, now):
    """A handshake whose KEY frame is lost: F holds an unconfirmed session."""
    _to_srk(f, s, now)
    deliver(outputs(s), f, now)
    work(f, now)
    outputs(f)  # KEY lost
    evs = drain(f)
    assert evs[-1][0] == "ESTABLISHED", evs
    return evs


def test_lost_key_frames_leave_one_unconfirmed_session_per_peer_replaced_by_its_next():
    f = first(pairings=[pairing(0), pairing(1)], sessions=4)
    a = second(0, max_tries=2)
    sids = []
    for i in range(8):  # 8 handshakes of A, every KEY lost (or A rebooting)
        evs = _lose_key(f, a, 100 * i)
        sids.append(evs[-1][1])
        if i:  # A's previous unconfirmed session: CLOSE(REPLACED), then the new one
            assert evs == [("CLOSED", sids[-2], errors.REPLACED),
                           ("ESTABLISHED", sids[-1], 0)], evs
        a.close(100 * i)
        assert f.table.count_state(WAIT_CONFIRM) == 1
    # so B is never refused
    sid_b = handshake(f, second(1), now=900)
    assert sid_b


def test_an_unconfirmed_session_is_taken_by_another_peer_after_confirm_ms_only():
    f = first(pairings=[pairing(0), pairing(1), pairing(2)], sessions=2, confirm_ms=5000)
    handshake(f, second(0), now=0)  # A, never confirmed (S never speaks)
    b = second(1)
    sid_b = handshake(f, b, now=1)  # B fills the table
    b.send(b"hi", 2, 2)
    deliver(outputs(b), f, 2)  # B is confirmed
    assert [e[0] for e in drain(f)] == ["DATA"]
    c = second(2)
    c.connect(4999)
    req = outputs(c)
    deliver(req, f, 4999)  # A's session is 4999 ms old: not yet
    assert drain(f) == [("ERROR", 0, errors.BUSY)]
    outputs(f)
    deliver(req, f, 5000)  # now it is: CLOSE(TIMEOUT) to A, C gets the slot
    evs = drain(f)
    assert evs[0][0] == "CLOSED" and evs[0][2] == errors.TIMEOUT, evs
    out = outputs(f)
    assert [fr[0] for fr in out] == [0x28, 0x22], out  # A's CLOSE, then C's SRK frame
    assert f.table.find_sid(sid_b) >= 0 and f.table.state[f.table.find_sid(sid_b)] == OPEN


def test_lost_closes_of_one_peer_never_lock_it_out():
    # the strict xfail of tests/host/test_reliability_apps.py, in small:
    # 6 handshakes of one peer into a 2-slot table, every CLOSE lost
    f = first(sessions=2, suites=(1,))
    for i in range(6):
        s = second(0, seed=b"boot%d" % i, offer=(1,))
        sid = handshake(f, s, now=1000 * i)
        s.send(b"x", 1, 1000 * i)
        deliver(outputs(s), f, 1000 * i)  # confirmed
        drain(f)
        s.close(1000 * i)
        outputs(s)  # the CLOSE is lost
        assert f.table.find_sid(sid) >= 0
        assert f.table.count_state(OPEN) == 1  # peer_sessions = 1: the older one REPLACED


def test_peer_sessions_bounds_a_peers_confirmed_sessions():
    f = first(pairings=[pairing(0)], sessions=4, peer_sessions=2, suites=(1,))
    sids = []
    for i in range(2):
        s = second(0, seed=b"dev%d" % i, offer=(1,))
        sids.append(handshake(f, s, now=i))
        s.send(b"x", 1, i)
        deliver(outputs(s), f, i)
        assert drain(f) == [("DATA", sids[-1], 0, b"x")]
    t = f.table
    assert t.count_state(OPEN) == 2
    s = second(0, seed=b"dev2", offer=(1,))
    _to_srk(f, s, 5)
    deliver(outputs(s), f, 5)  # the third accepted PROOF: the oldest confirmed one goes
    evs = drain(f)
    assert evs == [("CLOSED", sids[0], errors.REPLACED), ("ESTABLISHED", s.sid, 0)], evs
    out = outputs(f)
    assert [(fr[0], wire.sid_of(fr)) for fr in out] == [(0x28, sids[0]), (0x24, s.sid)]
    assert t.find_sid(sids[0]) < 0 and t.find_sid(sids[1]) >= 0


def test_a_silent_second_station_confirms_with_a_key_ack_after_retry_ms():
    f = first(suites=(1,))
    s = second(offer=(1,), retry_ms=1000)
    sid = handshake(f, s, now=0)
    slot = f.table.find_sid(sid)
    assert f.table.state[slot] == WAIT_CONFIRM
    s.poll(999)
    assert outputs(s) == []
    s.poll(1000)
    ack = outputs(s)
    assert len(ack) == 1 and ack[0][0] == 0x27 and len(ack[0]) == 16 and ack[0][3] == 0
    deliver(ack, f, 1000)
    assert drain(f) == [] and f.table.state[slot] == OPEN  # silently confirmed
    s.poll(5000)
    assert outputs(s) == []  # once


# ------------------------------------------------ item 5: edge cases

def test_a_repeated_proof_must_equal_the_accepted_one_in_every_byte():
    for suite in (1, 2):
        f = first(suites=(suite,))
        s = second(offer=(suite,))
        _to_srk(f, s)
        proof = outputs(s)[0]
        sid = wire.sid_of(proof)
        deliver([proof], f, 1)
        work(f, 1)
        key = outputs(f)
        assert drain(f) == [("ESTABLISHED", sid, 0)]
        f.receive(proof, len(proof), 2)  # the same frame: KEY again
        assert outputs(f) == key and drain(f) == []
        n = len(proof)
        for i in range(n):
            if i in (1, 2):
                continue  # another sid is another session
            bad = bytearray(proof)
            bad[i] ^= 0x40
            f.receive(bad, n, 3)
            evs = drain(f)
            assert len(evs) == 1 and evs[0][0] == "ERROR", (suite, i, evs)
            if i == 0:
                assert evs[0][2] == errors.BAD_VERSION  # 0x63: another version
            else:  # same c || t but another e_pub is a different PROOF too
                assert evs[0][2] == errors.UNEXPECTED, (suite, i, evs)
                assert outputs(f) == [b"\x2f" + proof[1:3] + bytes((errors.UNEXPECTED,))]
        assert outputs(f) == []


def test_a_req_repeated_after_its_srk_was_removed_starts_afresh():
    f = first(suites=(1,), interval_ms=10000, lifetime_ms=10000, m=2, ring_slots=3)
    s = second(offer=(1,))
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, 22, 0)
    srk = outputs(f)[0]
    sid = wire.sid_of(srk)
    # the SRK of interval 0 is removed at 20 s; no poll in between
    f.receive(req, 22, 20000)
    assert drain(f) == [("HANDSHAKE_FAILED", sid, errors.TIMEOUT)]
    out = outputs(f)
    assert len(out) == 1 and out[0][0] == 0x22 and out[0] != srk
    assert wire.sid_of(out[0]) != sid and out[0][4:16] != srk[4:16]  # new sid and n_f
    # the new frame wraps the SRK of interval 2, which is not all zeros
    s.receive(out[0], 40, 20000)
    assert s.state == 2 and drain(s) == []


# ------------------------------------------------ item 6: the output queue

def test_a_full_output_queue_refuses_the_new_frame_and_changes_no_queued_one():
    f = first(suites=(1,), out_queue=1)
    s = second(offer=(1,))
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, 22, 0)
    queued = bytes(f.outq._bufs[0][:40])
    sid = wire.sid_of(queued)
    # a second REQ of another nonce while the SRK frame waits: refused, DROPPED
    s2 = second(0, seed=b"other", offer=(1,))
    s2.connect(1)
    req2 = outputs(s2)[0]
    f.receive(req2, 22, 1)
    evs = drain(f)
    assert evs == [("DROPPED", f.table.sid[0], wire.SRK)] and f.table.sid[0] != sid, evs
    assert f.outq.dropped == 1
    n = f.next_output()
    assert bytes(f.out[:n]) == queued and f.next_output() == 0  # unchanged, and alone
    # the station went on as if the frame was sent: the new handshake holds
    # the slot, and S2's retransmission gets the very frame that was refused
    s2.poll(1001)
    deliver(outputs(s2), f, 1001)
    again = outputs(f)
    assert len(again) == 1 and wire.sid_of(again[0]) != sid
    s2.receive(again[0], 40, 1000)
    assert s2.state == 2


def test_dropped_protected_frames_use_their_seq():
    f = first(suites=(1,), out_queue=2)
    s = second(offer=(1,))
    sid = handshake(f, s)
    f.send(sid, b"a", 1, 1)
    f.send(sid, b"b", 1, 1)
    f.send(sid, b"c", 1, 1)  # refused
    assert drain(f) == [("DROPPED", sid, wire.DATA)]
    f.send(sid, b"d", 1, 2)  # still refused: nothing was drained
    assert drain(f) == [("DROPPED", sid, wire.DATA)]
    frames = outputs(f)
    assert [wire.seq_of(fr) for fr in frames] == [0, 1]
    f.send(sid, b"e", 1, 3)
    fr = outputs(f)[0]
    assert wire.seq_of(fr) == 4  # c and d used seq 2 and 3
    got = []
    for x in frames + [fr]:
        deliver([x], s, 3)
        got += drain(s)
    assert got == [("DATA", sid, 0, b"a"), ("DATA", sid, 0, b"b"), ("DATA", sid, 2, b"e")]


# ------------------------------------------------ item 7: sizes

def test_handshake_sizes_116_and_172_bytes():
    for suite, total in ((1, 116), (2, 172)):
        f = first(suites=(suite,))
        s = second(offer=(suite,))
        sizes = []
        _to_srk(f, s)
        sizes.append(22)
        sizes.append(len(f.table.srk_frame[0:40 if suite == 1 else 64]))
        proof = outputs(s)[0]
        sizes.append(len(proof))
        deliver([proof], f, 1)
        work(f, 1)
        sizes.append(len(outputs(f)[0]))
        assert sum(sizes) == total, (suite, sizes)
        sid = s.sid
        f.send(sid, b"", 0, 2)
        assert len(outputs(f)[0]) == 16  # DATA: 16 bytes + payload


# ------------------------------------------------ the last seq (3.7)

def test_the_last_seq_is_reserved_for_close():
    for sender in ("F", "S"):
        f = first(suites=(1,))
        s = second(offer=(1,))
        sid = handshake(f, s)
        s.send(b"x", 1, 0)  # confirmed
        deliver(outputs(s), f, 0)
        drain(f)
        slot = f.table.find_sid(sid)
        if sender == "F":
            f.table.send_seq[slot] = wire.SEQ_LAST - 1
            f.send(sid, b"y", 1, 1)  # seq 2**30 - 2: an ordinary frame
            f.send(sid, b"z", 1, 1)  # would be 2**30 - 1: CLOSE instead
            assert drain(f) == [("CLOSED", sid, errors.KEYS_EXHAUSTED)]
            assert f.table.find_sid(sid) < 0
            frames = outputs(f)
            a, b = s, f
        else:
            s.send_seq = wire.SEQ_LAST - 1
            s.send(b"y", 1, 1)
            s.send(b"z", 1, 1)
            assert drain(s) == [("CLOSED", sid, errors.KEYS_EXHAUSTED)] and s.state == 0
            frames = outputs(s)
            a, b = f, s
        assert [fr[0] for fr in frames] == [0x25, 0x28]
        assert wire.seq_of(frames[1]) == wire.SEQ_LAST
        deliver(frames, a, 2)
        assert drain(a)[-1] == ("CLOSED", sid, errors.KEYS_EXHAUSTED)
        assert b is not None


# ------------------------------------------------ jobs (4.7)

def test_checks_queue_behind_each_other_while_f_serves_other_frames():
    peers = [pairing(i) for i in range(4)]
    f = first(pairings=peers)
    est = second(3)
    sid_e = handshake(f, est, now=0)
    ss = [second(i) for i in range(2)]
    proofs = []
    for s in ss:
        s.connect(1)
        deliver(outputs(s), f, 1)
        s.receive(outputs(f)[0], 64, 1)
        work(s, 1)
        proofs.append(outputs(s)[0])
    x = Starts(f)
    deliver(proofs, f, 2)  # both pass t: two jobs, FIFO
    assert f._jq_n == 2 and x.n == 0 and drain(f) == []
    f.work(3)  # the first job's first slice
    assert x.n == 1
    deliver([proofs[0]], f, 3)  # a repeat of the one being checked: ignored
    assert drain(f) == [] and outputs(f) == []
    other = bytearray(proofs[1])
    other[10] ^= 1
    deliver([other], f, 3)  # another PROOF for a CHECKING slot
    assert drain(f) == [("ERROR", wire.sid_of(other), errors.UNEXPECTED)]
    outputs(f)
    est.send(b"data", 4, 3)  # DATA of another session while the job runs
    deliver(outputs(est), f, 3)
    assert drain(f) == [("DATA", sid_e, 0, b"data")]
    n = ss[0]
    n.connect(4)  # and a REQ (S0 starts over: its CHECKING slot stays)
    deliver(outputs(n), f, 4)
    assert outputs(f)[0][0] == 0x22
    work(f, 5)
    evs = drain(f)
    assert [e[0] for e in evs] == ["ESTABLISHED", "ESTABLISHED"], evs
    assert evs[0][1] == wire.sid_of(proofs[0]) and evs[1][1] == wire.sid_of(proofs[1])


def test_a_check_whose_key_pair_left_the_ring_ends_with_srk_expired():
    f = first(interval_ms=10000, lifetime_ms=10000, m=2, ring_slots=3)
    s = second()
    _to_srk(f, s, 9000)
    proof = outputs(s)[0]
    sid = wire.sid_of(proof)
    f.receive(proof, 59, 18999)  # just before the deadline
    assert f.busy()
    f.work(19000)  # a slice: the job copied srk_priv
    f.poll(20000)  # interval 0's pair is removed: the job's copy wiped
    assert f.busy() and f.ring.find(0) < 0
    work(f, 20000)
    assert drain(f) == [("ERROR", sid, errors.SRK_EXPIRED),
                        ("HANDSHAKE_FAILED", sid, errors.SRK_EXPIRED)]
    assert outputs(f) == [b"\x2f" + proof[1:3] + bytes((errors.SRK_EXPIRED,))]
    assert f.table.find_sid(sid) < 0


def test_a_local_close_of_a_checking_slot_removes_its_job():
    f = first()
    s = second()
    _to_srk(f, s)
    proof = outputs(s)[0]
    f.receive(proof, 59, 1)
    assert f.busy()
    f.close(s.sid, 2)
    assert not f.busy() and drain(f) == [] and outputs(f) == []


def test_a_low_order_srk_pub_sends_s_back_to_wait_srk():
    # only a holder of PS can make one: the test computes auth with PS
    import spec2
    f = first()
    s = second()
    f.prepare(0)
    work(f, 0)
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, 22, 0)
    srk = bytearray(outputs(f)[0])
    srk[16:48] = bytes(32)
    v = spec2.handshake(req, srk, bytes(59), pairing(0).ps, bytes(32))
    srk[48:64] = spec2.hmac(v["ka"], srk[0:48])[:16]
    sends = s._sends
    s.receive(srk, 64, 10)
    assert s.state == 4 and s.busy()  # PROVING
    work(s, 11)
    sid = wire.sid_of(srk)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    assert s.state == 1 and s.sid == 0 and s._sends == sends and outputs(s) == []
    assert s._e_priv == bytearray(32) and s._dh == bytearray(32)
    s.poll(1000)  # the REQ timer runs again
    assert outputs(s) == [req]
