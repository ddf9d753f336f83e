"""Erasure: key buffers read back after they leave use (spec 4.1, 5.3, 5.4, 9.3).

Expired SRKs (and suite 2's srk_priv), the IDRKs, the chain key, TH2, KP,
SPV, the kept PROOF and wrapped key of every finished session, at F and at
S, whatever ended it: a CLOSE either way, F's idle timer, keys exhausted,
the WAIT_PROOF timer, a half-open slot displaced, a handshake that S gave
up; the old key of a rotation on both sides; the station's scratch (PRK,
PRK3, the pad, MS, KEK) after every call.
"""

from pair import deliver, drain, first, handshake, outputs, pairing, second, work


def _zero(buf, off=0, n=-1):
    if n < 0:
        n = len(buf) - off
    for i in range(off, off + n):
        if buf[i]:
            return False
    return True


def _scratch_clear(st):
    """The station's scratch holds nothing between calls (9.3)."""
    for name in ("_k32", "_k32b", "_k16", "_dh"):
        if not _zero(getattr(st, name, b"")):
            return False
    return _zero(st._mac.w)


def _slot_clear(f, slot):
    t = f.table
    k = 16 * t.idrks
    return (_zero(t.idrk, k * slot, k) and _zero(t.ck, 32 * slot, 32)
            and _zero(t.th2, 32 * slot, 32) and _zero(t.kp, 128 * slot, 128)
            and _zero(t.spv, 16 * slot, 16) and _zero(t.proof, 59 * slot, 59)
            and _zero(t.wrapped, 24 * slot, 24) and _zero(t.srk_frame, 64 * slot, 64)
            and not t.ccm[2 * slot].loaded and not t.ccm[2 * slot + 1].loaded
            and _scratch_clear(f))


def _slot_keys_set(f, slot):
    t = f.table
    k = 16 * t.idrks
    return not _zero(t.idrk, k * slot, k) and not _zero(t.ck, 32 * slot, 32)


def _s_clear(s):
    ok = _zero(s._keys) and _zero(s._ms) and _zero(s._ck) and _zero(s._th2)
    ok = ok and _zero(s._kp) and _zero(s._spv) and _zero(s._srk) and _zero(s._new)
    ok = ok and not s._ccm[0].loaded and not s._ccm[1].loaded and _scratch_clear(s)
    for name in ("_e_priv", "_dh"):  # suite 2
        ok = ok and _zero(getattr(s, name, b""))
    return ok


def _open(suite=1, **kw):
    f = first(suites=(suite,), **kw)
    s = second(offer=(suite,))
    sid = handshake(f, s)
    slot = f.table.find_sid(sid)
    assert _slot_keys_set(f, slot)
    t = f.table
    # accepted: TH2, KP, SPV, MS gone at both; F keeps the PROOF and the
    # wrapped IDRK_0 until confirmation; the scratch is clear after each call
    assert _zero(t.th2, 32 * slot, 32) and _zero(t.kp, 128 * slot, 128)
    assert _zero(t.spv, 16 * slot, 16) and _zero(s._ms) and _zero(s._kp) and _zero(s._spv)
    assert not _zero(t.proof, 59 * slot, 59) and not _zero(t.wrapped, 24 * slot, 24)
    assert _scratch_clear(f) and _scratch_clear(s)
    s.send(b"c", 1, 0)  # confirms the session
    deliver(outputs(s), f, 0)
    assert drain(f) == [("DATA", sid, 0, b"c")]
    assert _zero(t.proof, 59 * slot, 59) and _zero(t.wrapped, 24 * slot, 24)
    return f, s, sid, slot


def test_srks_zeroed_after_m_times_lifetime_both_suites():
    for suite in (1, 2):
        f = first(pairings=[pairing(0), pairing(1)], interval_ms=10000, lifetime_ms=20000,
                  m=3, suites=(suite,))
        handshake(f, second(0, offer=(suite,)), now=5)
        handshake(f, second(1, offer=(suite,)), now=10005)
        ring = f.ring
        live = [i for i in range(ring.slots) if ring.live[i]]
        assert len(live) == 2, live
        assert not _zero(ring.keys) or not _zero(getattr(ring, "priv", b""))
        f.poll(60000 - 1)  # interval 0 started at 0: erased at 3 x 20 s
        assert ring.live_count() == 2
        f.poll(60000)
        assert ring.live_count() == 1
        i0 = live[0]
        assert _zero(ring.keys, 16 * i0, 16)
        if suite == 2:
            assert _zero(ring.priv, 32 * i0, 32)
        f.poll(70000)
        assert ring.live_count() == 0
        assert _zero(ring.keys) and _zero(getattr(ring, "priv", b""))


def test_close_by_s_zeroes_both_sides():
    for suite in (1, 2):
        f, s, sid, slot = _open(suite)
        s.close(5)
        deliver(outputs(s), f, 5)
        assert drain(f) == [("CLOSED", sid, 0)]
        assert _slot_clear(f, slot) and _s_clear(s)


def test_close_by_f_zeroes_both_sides():
    f, s, sid, slot = _open()
    f.close(sid, 5)
    deliver(outputs(f), s, 5)
    assert drain(s) == [("CLOSED", sid, 0)]
    assert _slot_clear(f, slot) and _s_clear(s)


def test_idle_timeout_zeroes_the_slot():
    f, s, sid, slot = _open(idle_ms=1000, confirm_ms=500)
    f.poll(1000)
    assert drain(f) == [("CLOSED", sid, 14)]
    assert _slot_clear(f, slot)
    deliver(outputs(f), s, 1000)  # CLOSE(TIMEOUT)
    assert drain(s) == [("CLOSED", sid, 14)] and _s_clear(s)


def test_keys_exhausted_zeroes_both_sides():
    f, s, sid, slot = _open(rotate_frames=2, idrks=2)
    seen = []
    for i in range(10):
        if s.state != 3:
            break
        s.send(b"x", 1, i)
        deliver(outputs(s), f, i)
        deliver(outputs(f), s, i)
        deliver(outputs(s), f, i)
        seen += drain(f) + drain(s)
    assert ("CLOSED", sid, 13) in seen, seen
    assert _slot_clear(f, slot) and _s_clear(s)


def test_rotation_zeroes_the_old_key_on_both_sides():
    f, s, sid, slot = _open(rotate_frames=3, idrks=4)
    t = f.table
    key0 = bytes(t.key(slot, 0))
    ck1 = bytes(t.ck[32 * slot:32 * slot + 32])
    assert bytes(s._ck) == ck1
    for i in range(2):
        s.send(b"x", 1, i)
        deliver(outputs(s), f, i)   # the second DATA triggers REKEY(1)
        deliver(outputs(f), s, i)   # S switches to key 1, KEY_ACK
        deliver(outputs(s), f, i)   # F completes the rotation
    evs = drain(f)
    assert ("ROTATED", sid, 1) in evs, evs
    assert _zero(t.key(slot, 0)) and not _zero(t.key(slot, 1))
    assert key0 not in bytes(t.idrk)
    # the ratchet: CK_1 replaced by CK_2 at both, the REKEY's wrapped key dropped
    assert bytes(t.ck[32 * slot:32 * slot + 32]) == bytes(s._ck) != ck1
    assert ck1 not in bytes(t.ck) and ck1 not in bytes(s._ck)
    assert _zero(t.wrapped, 24 * slot, 24) and _scratch_clear(f) and _scratch_clear(s)
    # S drops key 0 once F's first frame under key 1 arrives
    f.send(sid, b"y", 1, 5)
    deliver(outputs(f), s, 5)
    assert ("DATA", sid, 0, b"y") in drain(s)
    assert s.recv_idx == 1 and _zero(s._keys, 0, 16) and not _zero(s._keys, 16, 16)


def test_handshake_timeout_zeroes_the_half_open_slot():
    f = first(lifetime_ms=20000, suites=(1,))
    s = second(offer=(1,))
    s.connect(0)
    deliver(outputs(s), f, 0)
    deliver(outputs(f), s, 0)
    sid = s.sid
    slot = f.table.find_sid(sid)
    assert not _zero(f.table.idrk, 16 * f.table.idrks * slot, 16 * f.table.idrks)
    assert not _zero(f.table.kp, 128 * slot, 128) and not _zero(f.table.spv, 16 * slot, 16)
    assert _scratch_clear(f) and _scratch_clear(s) and _zero(s._srk) and _zero(s._kp)
    f.poll(20000)
    assert drain(f) == [("HANDSHAKE_FAILED", sid, 14)]
    assert _slot_clear(f, slot)
    # S gives up on its own timer and forgets MS and TH
    for k in range(1, 6):
        s.poll(1000 * k)
        outputs(s)
    assert [e[0] for e in drain(s)] == ["HANDSHAKE_FAILED"]
    assert _s_clear(s)


def test_displaced_half_open_slots_are_zeroed():
    # rule 2: the same peer asks again; rule 4: the table is full
    pairings = [pairing(i) for i in range(3)]
    f = first(pairings=pairings, sessions=1, suites=(1,))
    s0 = second(0, offer=(1,))
    s0.connect(0)
    deliver(outputs(s0), f, 0)
    slot = 0
    old = bytes(f.table.idrk)
    s0b = second(0, seed=b"again", offer=(1,))
    s0b.connect(1)
    deliver(outputs(s0b), f, 1)  # same peer, new nonce: the slot is reused
    new = bytes(f.table.idrk)
    assert old != new and not any(old[i:i + 16] in new for i in range(0, len(old), 16))
    s1 = second(1, offer=(1,))
    s1.connect(2)
    deliver(outputs(s1), f, 2)   # another peer: the oldest half-open slot goes
    assert not any(new[i:i + 16] in bytes(f.table.idrk) for i in range(0, len(new), 16))
    assert f.table.state[slot] == 1  # s1's handshake holds it now


def test_s_close_during_handshake_forgets_everything():
    for suite in (1, 2):
        f = first(suites=(suite,))
        s = second(offer=(suite,))
        if suite == 2:
            f.prepare(0)
            work(f, 0)
        s.connect(0)
        deliver(outputs(s), f, 0)
        deliver(outputs(f), s, 0)
        if suite == 2:  # PROVING: e_priv, KP, SPV, TH2 held; the job cancelled by close
            assert s.state == 4 and not _zero(s._e_priv) and not _zero(s._kp)
            s.work(0)  # one slice: the job's state holds a copy of e_priv
            s.close(1)
            assert _s_clear(s) and not s.busy() and _zero(s._x._st if hasattr(
                s._x, "_st") else s._x._k)
            s.connect(2)
            deliver(outputs(s), f, 2)
            deliver(outputs(f), s, 2)
            work(s, 2)
        assert not _zero(s._ms) and s.state == 2  # WAIT_KEY: S holds MS
        s.close(3)
        assert _s_clear(s)


def test_f_scratch_and_dh_after_a_suite2_check_and_a_failed_one():
    f = first(suites=(2,), proof_tries=3)
    s = second(offer=(2,))
    f.prepare(0)
    work(f, 0)
    s.connect(0)
    deliver(outputs(s), f, 0)
    deliver(outputs(f), s, 0)
    work(s, 0)
    proof = outputs(s)[0]
    bad = bytearray(proof)
    bad[40] ^= 1  # c: t must be recomputed for a frame to get past the pre-DH check,
    # which needs KP (PS): take it from F, as a holder of PS would
    from ephkey.mac import Mac
    slot = f.table.find_sid(s.sid)
    m = Mac()
    m.load(f.table.kp, 128 * slot)
    m.mac(bad, 0, 51, bad, 0, 0, bad, 51, 8)
    f.receive(bad, len(bad), 1)
    assert f.busy() and f.table.state[slot] == 3  # CHECKING
    work(f, 1)
    assert drain(f) == [("ERROR", s.sid, 9)]  # BAD_PROOF, counted
    assert _scratch_clear(f) and _zero(f.table.proof, 59 * slot, 59)
    assert f.table.state[slot] == 1 and f.table.fails[slot] == 1
    f.receive(proof, len(proof), 2)
    work(f, 2)
    assert drain(f) == [("ESTABLISHED", s.sid, 0)] and _scratch_clear(f)
