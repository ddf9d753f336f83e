"""Suite 2 (docs/protocol.md 3.9) inside MicroPython: X25519 SRKs, one key
pair per initiation interval made by a job, forward secrecy, negotiation and
downgrade.

Every X25519 here costs a few ms on the unix port (a few hundred on an
RP2040), so the tests keep their handshakes few.
"""

import micropython

import pair
import spec2
from drbg import Drbg
from ephkey import errors, wire
from ephkey.config import FirstConfig, SecondConfig
from ephkey.srk_ring import NONE, PENDING, READY
from ephkey.x25519 import x25519, x25519_base
from mpunit import raises
from pair import Tape, deliver, drain, handshake, outputs, pairing, work

IV = 10000  # interval_ms
L = 20000  # lifetime_ms
M = 3


def first(**kw):
    kw.setdefault("interval_ms", IV)
    kw.setdefault("lifetime_ms", L)
    kw.setdefault("m", M)
    return pair.first(**kw)  # suites default to (2, 1)


def second(i=0, **kw):
    return pair.second(i, **kw)  # offer defaults to (2, 1)


class Wire:
    """Carries frames between F and S, running both stations' jobs, until all
    is quiet; records each frame as (sender, frame); ``tamper(sender, frame)``
    may rewrite or drop (None) one. Events are drained after every frame
    (a DATA payload lives in the station's buffer only until the next frame)."""

    def __init__(self, f, s, tamper=None):
        self.f = f
        self.s = s
        self.tamper = tamper
        self.rec = []
        self.events = []

    def take(self):
        evs = self.events + drain(self.f) + drain(self.s)
        self.events = []
        return evs

    def pump(self, now):
        moved = True
        while moved:
            moved = False
            for st in (self.f, self.s):
                if st.busy():
                    moved = True
                    work(st, now)
                    self.events += drain(self.f) + drain(self.s)
            for sender, src, dst in (("S", self.s, self.f), ("F", self.f, self.s)):
                for fr in outputs(src):
                    moved = True
                    if self.tamper is not None:
                        fr = self.tamper(sender, fr)
                        if fr is None:
                            continue
                    self.rec.append((sender, fr))
                    dst.receive(fr, len(fr), now)
                    self.events += drain(self.f) + drain(self.s)


class Starts:
    """Counts the X25519 runs a station starts (its job's start())."""

    def __init__(self, st):
        self.calls = []
        real = st._x.start

        def start(out, scalar, u=None):
            self.calls.append(u is None)  # True: a key pair (base point)
            real(out, scalar, u)

        st._x.start = start

    def pairs(self):
        return sum(1 for c in self.calls if c)

    def dhs(self):
        return sum(1 for c in self.calls if not c)


def _error(frame, code):
    """F's answer to a rejected PROOF: ERROR with its sid."""
    return b"\x2f" + bytes(frame[1:3]) + bytes((code,))


# ------------------------------------------------------------- configuration

def test_config_defaults_to_suite_2_then_1_and_checks_suites():
    assert FirstConfig().suites == (2, 1)
    assert SecondConfig().offer == (2, 1)
    assert FirstConfig(suites=[1]).suites == (1,)  # board files give lists
    assert "unsupported suite 4" in raises(ValueError, lambda: FirstConfig(suites=(4,)))
    assert "at least one" in raises(ValueError, lambda: SecondConfig(offer=()))
    assert "twice" in raises(ValueError, lambda: SecondConfig(offer=(2, 2)))


# ------------------------------------------------------------- the handshake

def test_suite2_handshake_data_and_rotation():
    f = first(rotate_frames=4, idrks=3)
    s = second()
    f.prepare(0)
    w = Wire(f, s)
    s.connect(0)
    w.pump(0)
    sid = s.sid
    assert w.take() == [("ESTABLISHED", sid, 0), ("ESTABLISHED", sid, 0)]
    lens = [(snd, fr[0], len(fr)) for snd, fr in w.rec]
    assert lens == [("S", 0x21, 22), ("F", 0x22, 64), ("S", 0x23, 59), ("F", 0x24, 27)], lens
    assert w.rec[0][1][21] == 0x03  # S offers {1, 2}
    assert w.rec[1][1][3] == 2  # F chose suite 2
    assert s.suite == 2 and f.table.suite[f.table.find_sid(sid)] == 2
    # S erased e_priv and DH when it sent PROOF; F erased DH after its check
    assert s._e_priv == bytearray(32) and s._dh == bytearray(32)
    assert f._dh == bytearray(32)
    # the SRK frame carries the ring's public key, never the private one
    slot = f.table.srk_slot[f.table.find_sid(sid)]
    srk = w.rec[1][1]
    assert srk[wire.OFF_SRK_PUB:wire.OFF_AUTH] == f.ring.pub_views[slot]
    assert x25519_base(f.ring.priv_views[slot]) == bytes(f.ring.pub_views[slot])
    assert s.rng.drawn == 12 + 32  # n_s, then e_priv: S's only draws

    seen = []
    now = 10
    for i in range(20):
        if s.state != 3:
            break
        s.send(b"s%d" % i, 2 + (i >= 10), now)
        w.pump(now)
        if f.table.find_sid(sid) >= 0:
            f.send(sid, b"f%d" % i, 2 + (i >= 10), now)
            w.pump(now)
        seen += w.take()
        now += 1
    data = [e[3] for e in seen if e[0] == "DATA"]
    assert data[:6] == [b"s0", b"f0", b"s1", b"f1", b"s2", b"f2"], data
    rotated = [e[2] for e in seen if e[0] == "ROTATED"]
    assert rotated == [1, 1, 2, 2], rotated
    assert ("CLOSED", sid, errors.KEYS_EXHAUSTED) in seen
    assert f.table.idrk == bytearray(len(f.table.idrk))


def test_a_request_before_the_key_pair_is_not_ready_then_served():
    f = first()
    s = second()
    x = Starts(f)
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, len(req), 0)
    # 4.2 step 2: srk_priv drawn (one call), the job queued, the REQ refused
    assert drain(f) == [("ERROR", 0, errors.NOT_READY)]
    assert outputs(f) == [b"\x2f\x00\x00" + bytes((errors.NOT_READY,))]
    assert f.busy() and f.rng.drawn == 32 and x.calls == []  # no X25519 in receive
    assert f.ring.pair_state(0) == PENDING
    f.receive(req, len(req), 1)  # pending: NOT_READY again, nothing drawn
    assert drain(f) == [("ERROR", 0, errors.NOT_READY)] and f.rng.drawn == 32
    outputs(f)
    units = work(f, 2)
    assert units >= 2 and x.pairs() == 1 and f.ring.pair_state(0) == READY
    assert drain(f) == [] and outputs(f) == []  # a key pair's job emits nothing
    s.poll(1000)  # S's retransmission finds the pair
    req2 = outputs(s)[0]
    assert req2 == req
    f.receive(req2, len(req2), 1000)
    srk = outputs(f)[0]
    assert len(srk) == 64 and f.rng.drawn == 32 + 2 + 12 + 16 * 4
    s.receive(srk, len(srk), 1001)
    assert s.state == 4 and s.busy() and outputs(s) == []  # PROVING: the job first
    work(s, 1002)
    proof = outputs(s)[0]
    f.receive(proof, len(proof), 1003)
    assert drain(f) == [] and outputs(f) == [] and f.busy()  # CHECKING
    work(f, 1004)
    assert drain(f) == [("ESTABLISHED", s.sid, 0)]
    assert x.dhs() == 1


def test_retransmitted_req_and_repeated_proof_in_suite_2():
    f = first()
    s = second()
    f.prepare(0)
    work(f, 0)
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, len(req), 0)
    srk1 = outputs(f)[0]
    drawn = f.rng.drawn
    f.receive(req, len(req), 5)  # S's REQ again: the same SRK frame, no new draw
    assert outputs(f) == [srk1] and f.rng.drawn == drawn
    s.receive(srk1, len(srk1), 6)
    work(s, 6)
    proof = outputs(s)[0]
    f.receive(proof, len(proof), 7)
    f.receive(proof, len(proof), 7)  # a repeat while CHECKING: ignored
    assert drain(f) == [] and outputs(f) == []
    work(f, 7)
    key = outputs(f)[0]
    assert drain(f) == [("ESTABLISHED", s.sid, 0)]
    f.receive(proof, len(proof), 8)  # KEY was lost, S repeats PROOF
    assert outputs(f) == [key] and drain(f) == [] and not f.busy()
    s.receive(key, len(key), 9)
    assert drain(s) == [("ESTABLISHED", s.sid, 0)]


def test_frame_lengths_follow_the_suite():
    f = first()
    s = second()
    handshake_until_srk = _half_handshake(f, s)
    srk = handshake_until_srk
    sid = wire.sid_of(srk)
    # 4.4 item 2: an SRK frame's suite byte other than 1, 2, 3 is BAD_SUITE, before
    # the length; suite 3's (15.10) is 80 bytes
    bad = bytearray(srk)
    bad[3] = 4
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.BAD_SUITE)]
    bad[3] = 3
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    bad[3] = 1  # a suite-1 SRK frame is 40 bytes, not 64
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    s.receive(srk[:40], 40, 1)  # suite 2 is 64
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    s.receive(srk[:3], 3, 1)  # no room for the suite byte
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    s.receive(srk, len(srk), 2)
    work(s, 2)
    proof = outputs(s)[0]
    f.receive(proof[:27], 27, 3)  # a suite-1 length for a suite-2 handshake (4.5 step 2)
    assert drain(f) == [("ERROR", sid, errors.MALFORMED)]
    assert outputs(f) == [_error(proof, errors.MALFORMED)]
    f.receive(proof[:30], 30, 3)  # neither PROOF length (4.4 item 2)
    assert drain(f) == [("ERROR", sid, errors.MALFORMED)]
    assert outputs(f) == [_error(proof, errors.MALFORMED)]
    f.receive(proof[:2], 2, 3)  # too short for a sid: ERROR with sid 0
    assert drain(f) == [("ERROR", 0, errors.MALFORMED)]
    assert outputs(f) == [b"\x2f\x00\x00" + bytes((errors.MALFORMED,))]
    assert f.table.fails[f.table.find_sid(sid)] == 0  # none of that counted
    f.receive(proof, len(proof), 4)  # rejected frames changed nothing
    work(f, 4)
    assert drain(f) == [("ESTABLISHED", sid, 0)]


def test_both_suites_in_one_interval_share_one_ring_slot_and_are_erased_together():
    f = first(pairings=[pairing(0), pairing(1)])
    sid1 = handshake(f, second(0, offer=(1,)), now=100)
    sid2 = handshake(f, second(1), now=200)
    t = f.table
    a, b = t.find_sid(sid1), t.find_sid(sid2)
    assert (t.suite[a], t.suite[b]) == (1, 2)
    slot = t.srk_slot[a]
    assert t.srk_slot[b] == slot
    ring = f.ring
    assert ring.has1[slot] and ring.has2[slot] == READY and ring.live_count() == 1
    assert any(ring.views[slot]) and any(ring.priv_views[slot])
    f.poll(M * L - 1)
    assert ring.live[slot]
    f.poll(M * L)
    assert not ring.live[slot] and not ring.has1[slot] and ring.has2[slot] == NONE
    assert ring.keys == bytearray(len(ring.keys))
    assert ring.priv == bytearray(len(ring.priv)) and ring.pub == bytearray(len(ring.pub))


def test_data_path_allocates_nothing_in_suite_2():
    f = first(max_payload=256)
    s = second(max_payload=256)
    sid = handshake(f, s)
    assert s.suite == 2
    payload = bytearray(b"x" * 200)
    for n in (16, 64, 200):
        s.send(payload, n, 1)
        k = s.next_output()
        f.receive(s.out, k, 1)
        f.next_event()
        micropython.heap_lock()
        try:
            s.send(payload, n, 2)
            k = s.next_output()
            f.receive(s.out, k, 2)
            code = f.next_event()
            f.send(sid, payload, n, 2)
            k = f.next_output()
            s.receive(f.out, k, 2)
            code2 = s.next_event()
        finally:
            micropython.heap_unlock()
        assert code == 2 and f.ev_len == n, (code, f.ev_len)
        assert code2 == 2 and s.ev_len == n


# --------------------------------------------------------- forward secrecy

class Unopenable(Exception):
    pass


def attacker_open(rec, ps, dh=None, check_proof=True):
    """The attacker: PS (stolen later) and every recorded frame, nothing else.

    Uses only the spec's key schedule (spec2.py). Returns the payloads of the
    recorded DATA frames in order, or raises Unopenable. Suite 1 needs nothing
    more; suite 2 needs ``dh``, which the attacker does not have: it is
    X25519(srk_priv, e_pub) = X25519(e_priv, srk_pub), and both private keys
    are erased. ``check_proof=False`` skips the PROOF's c check.
    """
    frames = [fr for _, fr in rec]
    req = [fr for fr in frames if fr[0] == 0x21][0]
    srk = [fr for fr in frames if fr[0] == 0x22][0]
    proof = [fr for fr in frames if fr[0] == 0x23][0]
    key = [fr for fr in frames if fr[0] == 0x24][0]
    suite = srk[3]
    if suite == 1:
        v = spec2.handshake(req, srk, proof, ps, bytes(16))
        x = spec2.unwrap(v["kek2"], srk[16:40])  # the SRK, unwrapped with PS alone
    else:
        v = spec2.handshake(req, srk, proof, ps, bytes(32))
        # PS authenticates the recording (the attacker knows it has the right PS)...
        if v["auth"] != srk[48:64]:
            raise Unopenable("not this pair's PS: the SRK frame's auth fails")
        # ... and gives SPV and KP, but PRK3 needs DH as well as PS
        if dh is None:
            raise Unopenable("PRK3 = Extract(TH2, DH || PS): DH is not on the wire")
        x = dh
    v = spec2.handshake(req, srk, proof, ps, x)
    if check_proof and v["c"] != proof[-24:-8]:
        raise Unopenable("the pad from this X does not give the PROOF's c")
    idrk = spec2.unwrap(v["kek_0"], key[3:27])
    if idrk is None:
        raise Unopenable("KEK_0 from this X does not unwrap IDRK_0")
    idrks = {0: idrk}
    ck = v["ck_1"]
    out = []
    for sender, fr in rec:
        if not 0x25 <= fr[0] <= 0x28:
            continue
        pt = spec2.open_frame(idrks[fr[3]], fr, sender)
        if fr[0] == 0x25:
            out.append(pt)
        elif fr[0] == 0x26 and pt[0] not in idrks:  # REKEY(j): IDRK_j under KEK_j
            j = pt[0]
            kek, ck = spec2.chain(ck, j, suite)
            idrks[j] = spec2.unwrap(kek, pt[1:25])
    return out


def _recorded_session(suite):
    """A whole session (handshake, 8 DATA both ways, two rotations), recorded;
    then F's clock runs past M x lifetime, which erases the interval's SRK."""
    f = first(suites=(suite,), rotate_frames=4)
    s = second(offer=(suite,))
    s.rng = Tape(s.rng)
    f.prepare(1000)
    w = Wire(f, s)
    s.connect(1000)
    w.pump(1000)
    sid = s.sid
    sent = []
    for i in range(4):
        msg = b"secret %d from S" % i
        s.send(msg, len(msg), 1100 + i)
        sent.append(msg)
        w.pump(1100 + i)
        msg = b"secret %d from F" % i
        f.send(sid, msg, len(msg), 1200 + i)
        sent.append(msg)
        w.pump(1200 + i)
    evs = w.take()
    assert [e[2] for e in evs if e[0] == "ROTATED"] == [1, 1, 2, 2], evs
    assert [e[3] for e in evs if e[0] == "DATA"] == sent
    slot = f.table.srk_slot[f.table.find_sid(sid)]
    # the key the recording depends on is in the ring until M x lifetime...
    held = bytes(f.ring.priv_views[slot]) if suite == 2 else bytes(f.ring.views[slot])
    assert any(held)
    f.poll(M * L - 1)
    assert f.ring.live[slot]
    # ... and gone after it: interval 0 started at tick 0
    f.poll(M * L)
    assert not f.ring.live[slot]
    assert f.ring.keys == bytearray(len(f.ring.keys))
    assert f.ring.priv == bytearray(len(f.ring.priv))
    return f, s, w.rec, sent, held


def _buffers(*objs):
    for o in objs:
        for name in dir(o):
            v = getattr(o, name)
            if isinstance(v, bytearray):
                yield name, bytes(v)


def test_forward_secrecy_recorded_suite2_session_cannot_be_opened_with_ps():
    f, s, rec, sent, srk_priv = _recorded_session(2)
    ps = bytes(pairing(0).ps)
    srk = [fr for _, fr in rec if fr[0] == 0x22][0]
    proof = [fr for _, fr in rec if fr[0] == 0x23][0]
    srk_pub = srk[wire.OFF_SRK_PUB:wire.OFF_AUTH]
    e_pub = proof[wire.OFF_E_PUB:wire.OFF_C2]
    # the erasure: the ring slot's private key and S's e_priv / DH buffers are zeros
    assert s._e_priv == bytearray(32) and s._dh == bytearray(32) and f._dh == bytearray(32)
    # the demonstrator's copies (no station holds them any more): e_priv from
    # S's RNG tape, and the DH the session used
    assert [len(d) for d in s.rng.draws] == [12, 32]  # n_s, e_priv
    e_priv = s.rng.draws[1]
    assert x25519_base(e_priv) == e_pub
    dh = x25519(e_priv, srk_pub)
    assert dh == x25519(srk_priv, e_pub)
    for name, buf in _buffers(f, f.ring, f.table, s):
        for secret in (srk_priv, e_priv, dh):
            assert secret not in buf, "%s still holds a suite-2 secret" % name

    # 1. The attacker: PS and the wire, nothing else.
    raises(Unopenable, lambda: attacker_open(rec, ps))
    # Whatever it can compute in DH's place (from PS and public values) fails
    # the PROOF's c, and without that check the unwrap of IDRK_0 fails.
    guesses = [bytes(32), srk_pub, e_pub, spec2.H(ps), spec2.H(srk_pub, e_pub),
               x25519(spec2.H(ps), srk_pub), x25519(spec2.H(ps), e_pub), x25519(srk_pub, e_pub)]
    for g in guesses:
        msg = raises(Unopenable, lambda g=g: attacker_open(rec, ps, g))
        assert "PROOF's c" in msg, msg
        msg = raises(Unopenable, lambda g=g: attacker_open(rec, ps, g, check_proof=False))
        assert "KEK_0" in msg, msg
    # 2. DH is the only missing input: with it, the same code opens everything.
    assert attacker_open(rec, ps, dh) == sent
    # 3. And DH alone is not enough either: without PS the SRK frame's auth fails.
    raises(Unopenable, lambda: attacker_open(rec, bytes(16), dh))


def test_same_attack_opens_a_recorded_suite1_session_with_ps_alone():
    f, s, rec, sent, srk = _recorded_session(1)
    ps = bytes(pairing(0).ps)
    # The SRK is erased from the ring just like suite 2's key pair...
    assert srk not in f.ring.keys
    # ... but KEK2 unwraps it from the recorded SRK frame, and MS follows.
    assert attacker_open(rec, ps) == sent
    assert len(sent) == 8


# ------------------------------------------------------ negotiation, downgrade

def test_mitm_rewrites_offer_to_suite1_and_is_detected():
    f = first()
    s = second(max_tries=3)

    def downgrade(sender, fr):
        if fr[0] == 0x21:
            fr = bytearray(fr)
            fr[wire.OFF_OFFER] = 0x01  # {1, 2} -> {1}
        return fr

    w = Wire(f, s, downgrade)
    s.connect(0)
    w.pump(0)
    srk = [fr for snd, fr in w.rec if fr[0] == 0x22][0]
    assert srk[3] == 1 and len(srk) == 40  # F, fooled, chose suite 1
    sid = wire.sid_of(srk)
    # KEK2 binds TH1, S's REQ as S sent it: the unwrap fails
    assert w.take() == [("ERROR", sid, errors.AUTH_FAILED)]
    evs = []
    for t in (1000, 2000, 3000):  # S's retries, rewritten again each time
        s.poll(t)
        w.pump(t)
        evs += w.take()
    assert evs == [("ERROR", sid, errors.AUTH_FAILED)] * 2 + [
        ("HANDSHAKE_FAILED", 0, errors.TIMEOUT)], evs
    assert s.state == 0 and not any(fr[0] == 0x23 for _, fr in w.rec)
    # the same pair, untouched, agrees on suite 2
    handshake(f, s, now=4000)
    assert s.suite == 2


def _half_handshake(f, s, now=0):
    f.prepare(now)
    work(f, now)
    s.connect(now)
    req = outputs(s)[0]
    f.receive(req, len(req), now)
    return bytes(outputs(f)[0])


def test_mitm_on_the_srk_frame_is_rejected():
    f = first()
    s = second()
    srk = _half_handshake(f, s)
    sid = wire.sid_of(srk)
    drawn = s.rng.drawn
    # the suite byte flipped to 1: a suite-1 SRK frame has 40 bytes
    bad = bytearray(srk)
    bad[3] = 1
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    # rebuilt as a suite-1 frame of the right length: the unwrap fails
    bad = bytearray(srk[:40])
    bad[3] = 1
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    # srk_pub swapped for the MITM's own key (its auth cannot be redone without PS)
    mitm_priv = spec2.H(b"mitm")
    bad = bytearray(srk)
    bad[wire.OFF_SRK_PUB:wire.OFF_AUTH] = x25519_base(mitm_priv)
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    # ... also with an auth recomputed under a key the MITM can make
    bad[wire.OFF_AUTH:] = spec2.hmac(bytes(32), bad[:wire.OFF_AUTH])[:16]
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    # nothing changed: no draw, no output, no job, and the genuine frame still works
    assert s.rng.drawn == drawn and outputs(s) == [] and s.state == 1 and not s.busy()
    s.receive(srk, len(srk), 2)
    work(s, 2)
    proof = outputs(s)[0]
    f.receive(proof, len(proof), 3)
    work(f, 3)
    assert drain(f) == [("ESTABLISHED", sid, 0)]


def test_mitm_on_the_proof_frame_is_rejected_before_any_dh():
    f = first(proof_tries=4)
    s = second()
    srk = _half_handshake(f, s)
    sid = wire.sid_of(srk)
    s.receive(srk, len(srk), 1)
    work(s, 1)
    proof = bytes(outputs(s)[0])
    x = Starts(f)
    for e_pub in (x25519_base(spec2.H(b"mitm")),  # the MITM's own key
                  bytes(32), b"\x01" + bytes(31)):  # low order: all-zero DH
        bad = bytearray(proof)
        bad[wire.OFF_E_PUB:wire.OFF_C2] = e_pub
        f.receive(bad, len(bad), 2)
        assert drain(f) == [("ERROR", sid, errors.AUTH_FAILED)]  # t covers e_pub
        assert outputs(f) == [_error(bad, errors.AUTH_FAILED)]
        assert not f.busy()
    assert x.calls == [] and f.table.fails[f.table.find_sid(sid)] == 3
    f.receive(proof, len(proof), 3)
    work(f, 3)
    assert drain(f) == [("ESTABLISHED", sid, 0)] and x.dhs() == 1


def test_suite2_only_first_refuses_a_suite1_only_offer():
    f = first(suites=(2,))
    s = second(offer=(1,))
    s.connect(0)
    req = outputs(s)[0]
    drawn = f.rng.drawn
    f.receive(req, len(req), 0)
    assert drain(f) == [("ERROR", 0, errors.BAD_SUITE)]
    assert outputs(f) == [bytes((0x2f, 0, 0, errors.BAD_SUITE))]
    assert f.rng.drawn == drawn and f.ring.live_count() == 0 and not f.busy()
    # a suite-1-only first station answers a {1, 2} offer with suite 1
    f1 = first(suites=(1,))
    s2 = second()
    handshake(f1, s2)
    assert s2.suite == 1


# --------------------------------------------- one key pair per interval (claims 2, 4)

def test_one_key_pair_per_interval_shared_by_every_request_in_it():
    k = 4
    f = first(pairings=[pairing(i) for i in range(5)], idrks=k)
    x = Starts(f)
    srks = []
    draws = []
    for i in range(4):
        before = f.rng.drawn
        slot = f.table.find_sid(handshake(f, second(i), now=100 * i))
        draws.append(f.rng.drawn - before)
        srks.append(bytes(f.table.srk_view(slot, 2)))
    # one key generation for the interval, one DH per session
    assert x.pairs() == 1 and f.ring.created2 == 1, (x.calls, f.ring.created2)
    assert x.dhs() == 4
    # the first REQ drew srk_priv (32) and got NOT_READY; then one call per REQ
    assert draws == [32 + 2 + 12 + 16 * k] + [2 + 12 + 16 * k] * 3, draws
    pubs = set(bytes(fr[wire.OFF_SRK_PUB:wire.OFF_AUTH]) for fr in srks)
    assert len(pubs) == 1
    t = f.table
    sets = set(bytes(t.idrk[16 * k * i:16 * k * (i + 1)]) for i in range(4))
    assert len(sets) == 4  # claim 3: an own IDRK set per session
    # the next interval: a new key pair
    slot = f.table.find_sid(handshake(f, second(4), now=IV + 1))
    assert x.pairs() == 2
    assert bytes(f.table.srk_frame[64 * slot + 16:64 * slot + 48]) not in pubs


def test_prepare_makes_k_then_k_plus_1_so_no_request_waits():
    k = 4
    f = first(idrks=k)
    x = Starts(f)
    assert f.prepare(5000) is True  # interval 0 has none: its job
    assert f.ring.pair_state(0) == PENDING and f.rng.drawn == 32 and x.calls == []
    assert f.prepare(5001) is True  # then interval 1's, at most one per call
    assert f.ring.pair_state(1) == PENDING and f.rng.drawn == 64
    assert f.prepare(5002) is False and f.rng.drawn == 64  # pending: nothing more
    work(f, 5003)
    assert x.pairs() == 2 and f.ring.pair_state(0) == READY == f.ring.pair_state(1)
    for t in (5004, 9999):
        assert f.prepare(t) is False  # nothing due: no draw, no job
    slot = f.ring.find(1)
    assert f.ring.started[slot] == IV
    # a request in interval 1: no key generation, no X25519 at all for the REQ
    s = second()
    s.connect(IV + 5)
    req = outputs(s)[0]
    f.receive(req, len(req), IV + 5)
    assert x.pairs() == 2 and x.dhs() == 0 and not f.busy()
    assert f.rng.drawn == 64 + 2 + 12 + 16 * k  # sid, n_f, IDRKs only
    srk = outputs(f)[0]
    assert srk[wire.OFF_SRK_PUB:wire.OFF_AUTH] == f.ring.pub_views[slot]
    # removal counts from the start of the key's interval, not from prepare
    f.poll(IV + M * L - 1)
    assert f.ring.live[slot]
    f.poll(IV + M * L)
    assert not f.ring.live[slot] and f.ring.priv == bytearray(len(f.ring.priv))
    # a first station without suite 2 prepares nothing
    f1 = first(suites=(1,))
    assert f1.prepare(100) is False and f1.rng.drawn == 0 and len(f1.ring.priv) == 0


def test_prepare_every_poll_never_needs_more_slots_than_the_config_rule():
    # ring_slots = ceil(M * L / IV) + 1 = 7, the minimum 4.1 allows; prepare
    # on every interval plus a request in each: no live key is ever dropped
    f = first(ring_slots=7)
    erased = []
    orig = f.ring.erase
    f.ring.erase = lambda i: (erased.append((i, f.ring.interval[i], f.ring.k)), orig(i))
    s = second()
    for k in range(12):
        t = k * IV
        f.poll(t + 1)
        sid = handshake(f, s, now=t + 2)
        s.close(t + 3)
        deliver(outputs(s), f, t + 3)
        assert drain(f) == [("CLOSED", sid, 0)]
        f.prepare(t + 4)
        work(f, t + 4)
        f.poll(t + IV - 1)
    # every erasure was the M x L removal of advance(), never a forced drop
    assert len(erased) >= 4, erased
    for _i, interval, k in erased:
        assert k - interval >= (M * L) // IV, erased


def test_a_key_pair_job_whose_slot_is_removed_is_dropped_without_a_trace():
    f = first(interval_ms=10000, lifetime_ms=10000, m=2, ring_slots=3)
    assert f.prepare(0) and f.prepare(1)  # intervals 0 and 1, both pending
    assert f.busy()
    f.poll(20000)  # interval 0's slot is removed at 2 x 10 s, before its job ran
    assert f.ring.find(0) < 0
    work(f, 20000)
    assert drain(f) == [] and outputs(f) == []
    assert f.ring.pair_state(1) == READY  # the other job ran
    assert not any(f.ring.priv[i] for i in range(len(f.ring.priv))
                   if f.ring.live[i // 32] == 0)


def test_a_prepared_slot_never_displaces_a_key_a_handshake_still_needs():
    # Pre-generation tags slots out of interval order (k+1 before k), so the
    # slot at head may still be live: the ring then takes the next free slot.
    # I = L = 10 s, M = 2, ring_slots = 3 (the minimum of 4.1).
    f = first(pairings=[pairing(0), pairing(1)], interval_ms=10000, lifetime_ms=10000,
              m=2, ring_slots=3, suites=(1, 2))
    handshake(f, second(0, offer=(1,)), now=1)  # interval 0's suite-1 SRK -> slot 0
    f.prepare(2)  # interval 0 (same slot 0)
    f.prepare(3)  # interval 1 -> slot 1
    work(f, 3)
    f.prepare(10000)  # interval 2 -> slot 2; head is back at slot 0
    work(f, 10000)
    s = second(1)
    s.connect(19999)  # the last tick of interval 1: its handshake may run to 29999
    req = outputs(s)[0]
    f.receive(req, len(req), 19999)
    srk = outputs(f)[0]
    s.receive(srk, len(srk), 19999)
    work(s, 19999)
    proof = outputs(s)[0]
    assert f.ring.interval[1] == 1
    f.prepare(25000)  # interval 0's slot was erased at 20000: interval 3 takes it
    assert f.ring.interval[0] == 3 and f.ring.interval[1] == 1 and f.ring.live[1]
    f.receive(proof, len(proof), 26000)
    work(f, 26000)
    assert drain(f)[-1] == ("ESTABLISHED", s.sid, 0)


# ------------------------------------------------------------ the runtime

def test_node_runs_prepare_then_the_jobs_after_each_poll_yielding_between_units():
    import asyncio

    from ephkey.node import Node

    calls = []

    class Station:
        out = b""
        scrub_due = False
        jobs = 0

        def poll(self, now):
            calls.append("poll")

        def prepare(self, now):
            calls.append("prepare")
            if len(calls) < 4:
                self.jobs = 3

        def busy(self):
            return self.jobs > 0

        def work(self, now):
            calls.append("work")
            self.jobs -= 1

        def next_output(self):
            return 0

        def next_event(self):
            return 0

        outq = ()

    class Link:
        async def recv(self):
            await asyncio.sleep_ms(1000)

    async def main():
        node = Node(Station(), Link(), None, poll_ms=5)
        task = asyncio.create_task(node.run())
        await asyncio.sleep_ms(40)
        task.cancel()

    asyncio.run(main())
    assert calls[:5] == ["poll", "prepare", "work", "work", "work"], calls
    assert calls[5:8] == ["poll", "prepare", "poll"] or calls[5:7] == ["poll", "prepare"], calls


def test_runtime_max_frame_holds_every_handshake_frame():
    from ephkey.runtime import max_frame
    assert max_frame(FirstConfig(max_payload=0)) == wire.LEN_PROOF3  # 91: suite 3's PROOF
    assert wire.LEN_PROOF3 >= wire.LEN_SRK3 >= wire.LEN_SRK2
    assert max_frame(FirstConfig(max_payload=256)) == 272


def test_drbg_is_the_spec_rng():
    # the draws counted above are those of section 12's deterministic RNG
    d = Drbg(b"x")
    assert d(40) == (spec2.H(b"x" + bytes(4)) + spec2.H(b"x" + b"\x00\x00\x00\x01"))[:40]
