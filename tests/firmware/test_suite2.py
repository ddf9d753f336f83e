"""Suite 2 (docs/protocol.md 3.9) inside MicroPython: X25519 SRKs, one key
pair per initiation interval, forward secrecy, negotiation and downgrade.

Every X25519 here costs a few ms on the unix port (a few hundred on an
RP2040), so the tests keep their handshakes few.
"""

import micropython

import ephkey.first as first_mod
import ephkey.srk_ring as ring_mod
import pair
from drbg import Drbg
from ephkey import errors, keyschedule, wire
from ephkey.config import FirstConfig, SecondConfig
from ephkey.crypto import aes_key_unwrap, ccm_decrypt, sha256
from ephkey.x25519 import x25519, x25519_base
from pair import drain, handshake, outputs, pairing

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
    """Carries frames between F and S until both are quiet, recording each one
    as (sender, frame); ``tamper(sender, frame)`` may rewrite or drop (None) one.
    Events are drained after every frame (a DATA payload lives in the station's
    buffer only until the next frame) into ``events``."""

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


class Counter:
    """Wraps a function and counts its calls."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


class Tape:
    """An RNG that keeps a copy of everything it hands out: the demonstrator's
    record of S's e_priv, which no station and no attacker holds."""

    def __init__(self, rng):
        self.rng = rng
        self.draws = []

    def __call__(self, n):
        r = self.rng(n)
        self.draws.append(bytes(r))
        return r


def _patch_x25519():
    """Count key generations (ring) and DH computations (F); restore with the result."""
    gen = Counter(ring_mod.x25519_base)
    dh = Counter(first_mod.x25519)
    ring_mod.x25519_base = gen
    first_mod.x25519 = dh
    return gen, dh


def _unpatch_x25519(gen, dh):
    ring_mod.x25519_base = gen.fn
    first_mod.x25519 = dh.fn


def _error(frame, code):
    """F's answer to a rejected REQ or PROOF: ERROR with its suite and sid bytes."""
    return bytes((1, wire.ERROR)) + bytes(frame[2:7]) + bytes((code,))


def _raises(exc, fn):
    try:
        fn()
    except exc as e:
        return str(e)
    raise AssertionError("no %s" % exc.__name__)


# ------------------------------------------------------------- configuration

def test_config_defaults_to_suite_2_then_1_and_checks_suites():
    assert FirstConfig().suites == (2, 1)
    assert SecondConfig().offer == (2, 1)
    assert FirstConfig(suites=[1]).suites == (1,)  # board files give lists
    assert "unsupported suite 3" in _raises(ValueError, lambda: FirstConfig(suites=(3,)))
    assert "at least one" in _raises(ValueError, lambda: SecondConfig(offer=()))
    assert "twice" in _raises(ValueError, lambda: SecondConfig(offer=(2, 2)))


# ------------------------------------------------------------- the handshake

def test_suite2_handshake_data_and_rotation():
    f = first(rotate_frames=4, idrks=3)
    s = second()
    w = Wire(f, s)
    s.connect(0)
    w.pump(0)
    sid = s.sid
    assert w.take() == [("ESTABLISHED", sid, 0), ("ESTABLISHED", sid, 0)]
    lens = [(snd, fr[1], len(fr)) for snd, fr in w.rec]
    assert lens == [("S", wire.REQ, 32), ("F", wire.SRK, 73), ("S", wire.PROOF, 63),
                    ("F", wire.KEY, 31)], lens
    assert [fr[2] for _, fr in w.rec] == [0, 2, 2, 2]  # REQ carries suite 0
    assert w.rec[0][1][31] == 0x03  # S offers {1, 2}
    assert s.suite == 2 and f.table.suite[f.table.find_sid(sid)] == 2
    # S erased e_priv and DH when it sent PROOF; F erased DH after MS
    assert s._e_priv == bytearray(32) and s._dh == bytearray(32)
    assert f._dh == bytearray(32)
    # the SRK frame carries the ring's public key, never the private one
    slot = f.table.srk_slot[f.table.find_sid(sid)]
    srk = w.rec[1][1]
    assert srk[wire.OFF_SRK_PUB:wire.OFF_AUTH] == f.ring.pub_views[slot]
    assert x25519_base(f.ring.priv_views[slot]) == bytes(f.ring.pub_views[slot])
    assert s.rng.drawn == 16 + 32  # n_s, then e_priv: S's only draws

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
    assert all(fr[2] == 2 for _, fr in w.rec[1:]), "every frame after REQ is suite 2"
    assert f.table.idrk == bytearray(len(f.table.idrk))


def test_retransmitted_req_and_repeated_proof_in_suite_2():
    f = first()
    s = second()
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, len(req), 0)
    srk1 = outputs(f)[0]
    f.receive(req, len(req), 5)  # S's REQ again: the same SRK frame, no new draw
    assert outputs(f) == [srk1] and f.rng.drawn == 32 + 4 + 16 + 4 * 16
    s.receive(srk1, len(srk1), 6)
    proof = outputs(s)[0]
    f.receive(proof, len(proof), 7)
    key = outputs(f)[0]
    assert drain(f) == [("ESTABLISHED", s.sid, 0)]
    f.receive(proof, len(proof), 8)  # KEY was lost, S repeats PROOF
    assert outputs(f) == [key] and drain(f) == []
    s.receive(key, len(key), 9)
    assert drain(s) == [("ESTABLISHED", s.sid, 0)]


def test_frame_lengths_follow_the_suite_byte():
    f = first()
    s = second()
    s.connect(0)
    req = outputs(s)[0]
    f.receive(req, len(req), 0)
    srk = outputs(f)[0]
    sid = wire.sid_of(srk)
    # 4.4 item 2: an unknown suite byte in SRK/PROOF is BAD_SUITE, before the length
    bad = bytearray(srk)
    bad[2] = 3
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.BAD_SUITE)]
    bad[2] = 1  # a suite-1 SRK is 49 bytes, not 73
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    s.receive(srk[:49], 49, 1)  # suite 2 is 73
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    s.receive(srk, len(srk), 2)
    proof = outputs(s)[0]
    f.receive(proof[:31], 31, 3)  # a 31-byte PROOF naming suite 2
    assert drain(f) == [("ERROR", sid, errors.MALFORMED)]
    assert outputs(f) == [_error(proof, errors.MALFORMED)]
    bad = bytearray(proof)
    bad[2] = 0
    f.receive(bad, len(bad), 3)
    assert drain(f) == [("ERROR", sid, errors.BAD_SUITE)]
    assert outputs(f) == [_error(bad, errors.BAD_SUITE)]
    f.receive(proof, len(proof), 4)  # rejected frames changed nothing
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
    assert ring.has1[slot] and ring.has2[slot] and ring.live_count() == 1
    assert any(ring.views[slot]) and any(ring.priv_views[slot])
    f.poll(M * L - 1)
    assert ring.live[slot]
    f.poll(M * L)
    assert not ring.live[slot] and not ring.has1[slot] and not ring.has2[slot]
    assert ring.keys == bytearray(len(ring.keys))
    assert ring.priv == bytearray(len(ring.priv)) and ring.pub == bytearray(len(ring.pub))


def test_data_path_allocates_nothing_in_suite_2():
    f = first()
    s = second()
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

    Uses only the spec's key schedule (section 3). Returns the payloads of
    the recorded DATA frames in order, or raises Unopenable. Suite 1 needs
    nothing more; suite 2 needs ``dh``, which the attacker does not have: it
    is X25519(srk_priv, e_pub) = X25519(e_priv, srk_pub), and both private
    keys are erased. Passing a guess for it shows what the guess gives
    (``check_proof=False`` skips the PROOF tag check and goes on to KEY).
    """
    frames = [fr for _, fr in rec]
    req = [fr for fr in frames if fr[1] == wire.REQ][0]
    srk = [fr for fr in frames if fr[1] == wire.SRK][0]
    proof = [fr for fr in frames if fr[1] == wire.PROOF][0]
    key = [fr for fr in frames if fr[1] == wire.KEY][0]
    suite = srk[2]
    sid = wire.sid_of(srk)
    n_s = req[wire.OFF_N_S:wire.OFF_N_S + 16]
    n_f = srk[wire.OFF_N_F:wire.OFF_N_F + 16]
    th_1 = sha256(req)
    th_2 = sha256(th_1 + srk)
    th_3 = sha256(th_2 + proof)
    if suite == 1:
        kek2 = keyschedule.kek2(ps, n_s, n_f, th_1, srk[:wire.OFF_WRAPPED_SRK])
        secret = aes_key_unwrap(kek2, srk[wire.OFF_WRAPPED_SRK:wire.LEN_SRK])  # the SRK
    else:
        # PS does authenticate the recording (the attacker knows it has the right PS)...
        ka = keyschedule.ka2(ps, n_s, n_f, th_1)
        if keyschedule.srk_auth(ka, srk[:wire.OFF_AUTH]) != srk[wire.OFF_AUTH:]:
            raise Unopenable("not this pair's PS: the SRK frame's auth fails")
        # ... and gives SPV, but K3 and MS need DH as well as PS
        if dh is None:
            raise Unopenable("MS = HKDF-Extract(TH3, PS || DH): DH is not on the wire")
        secret = dh
        if check_proof:
            k3 = keyschedule.k3_dh(dh, ps, n_s, n_f, th_2)
            nonce = bytearray(13)
            wire.put_nonce(nonce, sid, wire.DIR_S2F, 0, 0)
            try:
                spv = ccm_decrypt(k3, nonce, proof[:wire.OFF_CT_TAG2],
                                  proof[wire.OFF_CT_TAG2:], wire.TAG)
            except ValueError:
                raise Unopenable("K3 from this DH fails PROOF's tag") from None
            assert spv == keyschedule.spv(ps, th_2, 2)
    ms = keyschedule.master(th_3, ps, secret)
    try:
        idrks = {0: aes_key_unwrap(keyschedule.kek(ms, 0, suite), key[wire.OFF_WRAPPED_IDRK:])}
    except ValueError:
        raise Unopenable("KEK_0 from this MS does not unwrap IDRK_0") from None
    nonce = bytearray(13)
    out = []
    for sender, fr in rec:
        if not wire.PROT_FIRST <= fr[1] <= wire.PROT_LAST:
            continue
        kidx = fr[wire.OFF_KIDX]
        direction = wire.DIR_F2S if sender == "F" else wire.DIR_S2F
        wire.put_nonce(nonce, sid, direction, kidx, wire.seq_of(fr))
        pt = ccm_decrypt(idrks[kidx], nonce, fr[:wire.PROT_HDR], fr[wire.PROT_HDR:], wire.TAG)
        if fr[1] == wire.DATA:
            out.append(pt)
        elif fr[1] == wire.REKEY:  # the rotation's IDRK, under KEK_{j+1}
            j = pt[0]
            idrks[j] = aes_key_unwrap(keyschedule.kek(ms, j, suite), pt[1:])
    return out


def _recorded_session(suite):
    """A whole session (handshake, 8 DATA both ways, two rotations), recorded;
    then F's clock runs past M x lifetime, which erases the interval's SRK."""
    f = first(suites=(suite,), rotate_frames=4)
    s = second(offer=(suite,))
    s.rng = Tape(s.rng)
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
    srk = [fr for _, fr in rec if fr[1] == wire.SRK][0]
    proof = [fr for _, fr in rec if fr[1] == wire.PROOF][0]
    srk_pub = srk[wire.OFF_SRK_PUB:wire.OFF_AUTH]
    e_pub = proof[wire.OFF_E_PUB:wire.OFF_CT_TAG2]
    # the erasure: the ring slot's private key and S's e_priv / DH buffers are zeros
    assert s._e_priv == bytearray(32) and s._dh == bytearray(32) and f._dh == bytearray(32)
    # the demonstrator's copies (no station holds them any more): e_priv from
    # S's RNG tape, and the DH the session used
    assert [len(d) for d in s.rng.draws] == [16, 32]  # n_s, e_priv
    e_priv = s.rng.draws[1]
    assert x25519_base(e_priv) == e_pub
    dh = x25519(e_priv, srk_pub)
    assert dh == x25519(srk_priv, e_pub)
    for name, buf in _buffers(f, f.ring, f.table, s):
        for secret in (srk_priv, e_priv, dh):
            assert secret not in buf, "%s still holds a suite-2 secret" % name

    # 1. The attacker: PS and the wire, nothing else.
    _raises(Unopenable, lambda: attacker_open(rec, ps))
    # Whatever it can compute in DH's place (from PS and public values) fails
    # PROOF's tag, and without that check the unwrap of IDRK_0 fails.
    guesses = [bytes(32), srk_pub, e_pub, sha256(ps), sha256(srk_pub + e_pub),
               x25519(sha256(ps), srk_pub), x25519(sha256(ps), e_pub), x25519(srk_pub, e_pub)]
    for g in guesses:
        msg = _raises(Unopenable, lambda g=g: attacker_open(rec, ps, g))
        assert "PROOF's tag" in msg, msg
        msg = _raises(Unopenable, lambda g=g: attacker_open(rec, ps, g, check_proof=False))
        assert "KEK_0" in msg, msg
    # 2. DH is the only missing input: with it, the same code opens everything.
    assert attacker_open(rec, ps, dh) == sent
    # 3. And DH alone is not enough either: without PS the SRK frame's auth fails.
    _raises(Unopenable, lambda: attacker_open(rec, bytes(16), dh))


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
        if fr[1] == wire.REQ:
            fr = bytearray(fr)
            fr[wire.OFF_OFFER] = 0x01  # {1, 2} -> {1}
        return fr

    w = Wire(f, s, downgrade)
    s.connect(0)
    w.pump(0)
    srk = [fr for snd, fr in w.rec if fr[1] == wire.SRK][0]
    assert srk[2] == 1 and len(srk) == 49  # F, fooled, chose suite 1
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
    assert s.state == 0 and not any(fr[1] == wire.PROOF for _, fr in w.rec)
    # the same pair, untouched, agrees on suite 2
    handshake(f, s, now=4000)
    assert s.suite == 2


def _half_handshake(f, s, now=0):
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
    # the suite byte flipped to 1: a suite-1 SRK frame has 49 bytes
    bad = bytearray(srk)
    bad[2] = 1
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.MALFORMED)]
    # rebuilt as a suite-1 frame of the right length: the unwrap fails
    bad = bytearray(srk[:49])
    bad[2] = 1
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    # srk_pub swapped for the MITM's own key (its auth cannot be redone without PS)
    mitm_priv = sha256(b"mitm")
    bad = bytearray(srk)
    bad[wire.OFF_SRK_PUB:wire.OFF_AUTH] = x25519_base(mitm_priv)
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    # ... also with an auth recomputed under a key the MITM can make
    ka = keyschedule.ka2(bytes(16), bytes(16), bad[7:23], bytes(32))
    bad[wire.OFF_AUTH:] = keyschedule.srk_auth(ka, bad[:wire.OFF_AUTH])
    s.receive(bad, len(bad), 1)
    assert drain(s) == [("ERROR", sid, errors.AUTH_FAILED)]
    # nothing changed: no draw, no output, and the genuine frame still works
    assert s.rng.drawn == drawn and outputs(s) == [] and s.state == 1
    s.receive(srk, len(srk), 2)
    proof = outputs(s)[0]
    f.receive(proof, len(proof), 3)
    assert drain(f) == [("ESTABLISHED", sid, 0)]


def test_mitm_on_the_proof_frame_is_rejected():
    f = first()
    s = second()
    srk = _half_handshake(f, s)
    sid = wire.sid_of(srk)
    s.receive(srk, len(srk), 1)
    proof = bytes(outputs(s)[0])
    for e_pub in (x25519_base(sha256(b"mitm")),  # the MITM's own key
                  bytes(32), b"\x01" + bytes(31)):  # low order: all-zero DH
        bad = bytearray(proof)
        bad[wire.OFF_E_PUB:wire.OFF_CT_TAG2] = e_pub
        f.receive(bad, len(bad), 2)
        assert drain(f) == [("ERROR", sid, errors.AUTH_FAILED)]
        assert outputs(f) == [_error(bad, errors.AUTH_FAILED)]
        assert f._dh == bytearray(32)
    f.receive(proof, len(proof), 3)
    assert drain(f) == [("ESTABLISHED", sid, 0)]


def test_suite2_only_first_refuses_a_suite1_only_offer():
    f = first(suites=(2,))
    s = second(offer=(1,))
    s.connect(0)
    req = outputs(s)[0]
    drawn = f.rng.drawn
    f.receive(req, len(req), 0)
    assert drain(f) == [("ERROR", 0, errors.BAD_SUITE)]
    assert outputs(f) == [bytes((1, 15, 0, 0, 0, 0, 0, errors.BAD_SUITE))]
    assert f.rng.drawn == drawn and f.ring.live_count() == 0
    # a suite-1-only first station answers a {1, 2} offer with suite 1
    f1 = first(suites=(1,))
    s2 = second()
    handshake(f1, s2)
    assert s2.suite == 1


# --------------------------------------------- one key pair per interval (claims 2, 4)

def test_one_key_pair_per_interval_shared_by_every_request_in_it():
    k = 4
    f = first(pairings=[pairing(i) for i in range(5)], idrks=k)
    gen, dh = _patch_x25519()
    try:
        srks = []
        draws = []
        for i in range(4):
            s = second(i)
            s.connect(100 * i)
            req = outputs(s)[0]
            before = f.rng.drawn
            f.receive(req, len(req), 100 * i)
            draws.append(f.rng.drawn - before)
            srk = outputs(f)[0]
            srks.append(srk)
            s.receive(srk, len(srk), 100 * i)
            proof = outputs(s)[0]
            f.receive(proof, len(proof), 100 * i)
            assert drain(f) == [("ESTABLISHED", s.sid, 0)]
            assert [len(x) for x in outputs(f)] == [wire.LEN_KEY]
        # one key generation for the interval, one DH per session
        assert gen.calls == 1 and f.ring.created2 == 1, (gen.calls, f.ring.created2)
        assert dh.calls == 4
        assert draws == [32 + 4 + 16 + 16 * k] + [4 + 16 + 16 * k] * 3, draws
        pubs = set(bytes(x[wire.OFF_SRK_PUB:wire.OFF_AUTH]) for x in srks)
        assert len(pubs) == 1
        assert set(bytes(x[23:25]) for x in srks) == {b"\x00\x00"}  # interval 0
        t = f.table
        sets = set(bytes(t.idrk[16 * k * i:16 * k * (i + 1)]) for i in range(4))
        assert len(sets) == 4  # claim 3: an own IDRK set per session
        # the next interval: a new key pair
        s = second(4)
        s.connect(IV + 1)
        req = outputs(s)[0]
        f.receive(req, len(req), IV + 1)
        srk = outputs(f)[0]
        assert gen.calls == 2 and srk[23:25] == b"\x00\x01"
        assert bytes(srk[wire.OFF_SRK_PUB:wire.OFF_AUTH]) not in pubs
    finally:
        _unpatch_x25519(gen, dh)


def test_prepare_makes_the_next_pair_so_a_request_waits_for_no_x25519():
    k = 4
    f = first(idrks=k)
    gen, dh = _patch_x25519()
    try:
        assert f.prepare(5000) is True  # interval 0: makes interval 1's pair
        assert gen.calls == 1 and f.ring.prepared == 1 and f.rng.drawn == 32
        for t in (5001, 9999):
            assert f.prepare(t) is False  # nothing due: no draw, no X25519
        assert gen.calls == 1 and f.rng.drawn == 32
        slot = [i for i in range(f.ring.slots) if f.ring.live[i]][0]
        assert f.ring.interval[slot] == 1 and f.ring.started[slot] == IV
        # a request in interval 1: no key generation, no X25519 at all for the REQ
        s = second()
        s.connect(IV + 5)
        req = outputs(s)[0]
        f.receive(req, len(req), IV + 5)
        assert gen.calls == 1 and dh.calls == 0
        assert f.rng.drawn == 32 + 4 + 16 + 16 * k  # sid, n_f, IDRKs only
        srk = outputs(f)[0]
        assert srk[23:25] == b"\x00\x01"
        assert srk[wire.OFF_SRK_PUB:wire.OFF_AUTH] == f.ring.pub_views[slot]
        s.receive(srk, len(srk), IV + 6)
        proof = outputs(s)[0]
        f.receive(proof, len(proof), IV + 7)
        assert drain(f) == [("ESTABLISHED", s.sid, 0)] and dh.calls == 1
        # removal counts from the start of the key's interval, not from prepare
        f.poll(IV + M * L - 1)
        assert f.ring.live[slot]
        f.poll(IV + M * L)
        assert not f.ring.live[slot] and f.ring.priv == bytearray(len(f.ring.priv))
    finally:
        _unpatch_x25519(gen, dh)


def test_prepare_ahead_and_a_request_in_the_current_interval():
    f = first()
    gen, dh = _patch_x25519()
    try:
        f.prepare(100)  # interval 1's pair
        handshake(f, second(), now=200)  # interval 0 has none yet: made on the spot
        assert gen.calls == 2 and f.ring.live_count() == 2
        assert f.ring.created2 == 2 and f.ring.prepared == 1
    finally:
        _unpatch_x25519(gen, dh)
    # a first station without suite 2 prepares nothing
    f1 = first(suites=(1,))
    assert f1.prepare(100) is False and f1.rng.drawn == 0 and len(f1.ring.priv) == 0


def test_prepare_every_poll_never_needs_more_slots_than_the_config_rule():
    # ring_slots = ceil(M * L / IV) + 1 = 7, the minimum 4.1 allows; prepare
    # on every interval plus a request in each: no live key is ever dropped
    f = first(ring_slots=7)
    erased = []
    orig = f.ring._erase
    f.ring._erase = lambda i: (erased.append((i, f.ring.interval[i], f.ring.k)), orig(i))
    s = second()
    for k in range(12):
        t = k * IV
        f.poll(t + 1)
        sid = handshake(f, s, now=t + 2)
        s.close(t + 3)
        pair.deliver(outputs(s), f, t + 3)
        assert drain(f) == [("CLOSED", sid, 0)]
        f.prepare(t + 4)
        f.poll(t + IV - 1)
    # every erasure was the M x L removal of advance(), never a forced drop
    assert len(erased) >= 4, erased
    for _i, interval, k in erased:
        assert k - interval >= (M * L) // IV, erased


def test_a_prepared_slot_never_displaces_a_key_a_handshake_still_needs():
    # Pre-generation tags slots out of interval order (k+1 before k), so the
    # slot at head may still be live: the ring then takes the next free slot.
    # I = L = 10 s, M = 2, ring_slots = 3 (the minimum of 4.1).
    f = first(pairings=[pairing(0), pairing(1)], interval_ms=10000, lifetime_ms=10000,
              m=2, ring_slots=3)
    f.prepare(0)  # interval 1's pair -> slot 0
    handshake(f, second(0), now=1)  # interval 0's pair, made on the spot -> slot 1
    f.prepare(10000)  # interval 2's pair -> slot 2; head is back at slot 0
    s = second(1)
    s.connect(19999)  # the last tick of interval 1: its handshake may run to 29999
    req = outputs(s)[0]
    f.receive(req, len(req), 19999)
    srk = outputs(f)[0]
    s.receive(srk, len(srk), 19999)
    proof = outputs(s)[0]
    assert f.ring.head == 0 and f.ring.interval[0] == 1
    f.prepare(25000)  # interval 0's slot is erased at 20000; head (interval 1) is live
    assert f.ring.interval[1] == 3 and f.ring.interval[0] == 1 and f.ring.live[0]
    f.receive(proof, len(proof), 26000)
    assert drain(f)[-1] == ("ESTABLISHED", s.sid, 0)


# ------------------------------------------------------------ the runtime

def test_node_timer_task_calls_prepare_after_each_poll():
    import asyncio

    from ephkey.node import Node

    calls = []

    class Station:
        out = b""

        def poll(self, now):
            calls.append("poll")

        def prepare(self, now):
            calls.append("prepare")

        def next_output(self):
            return 0

        def next_event(self):
            return 0

        outq = ()

    async def main():
        node = Node(Station(), None, None, poll_ms=5)
        task = asyncio.create_task(node._timers())
        await asyncio.sleep_ms(60)
        task.cancel()

    asyncio.run(main())
    assert len(calls) >= 4 and calls[:4] == ["poll", "prepare", "poll", "prepare"], calls


def test_runtime_max_frame_holds_a_suite2_srk():
    from ephkey.runtime import max_frame
    assert max_frame(FirstConfig(max_payload=0)) == 73
    assert max_frame(FirstConfig(max_payload=256)) == 276


def test_drbg_is_the_spec_rng():
    # the draws counted above are those of section 12's deterministic RNG
    d = Drbg(b"x")
    assert d(40) == (sha256(b"x" + bytes(4)) + sha256(b"x" + b"\x00\x00\x00\x01"))[:40]
