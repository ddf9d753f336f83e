"""Suite 3 (docs/protocol.md 15.10) inside MicroPython: the user's secret
through CPace, failed attempts and the back-off, and every derivation of the
handshake recomputed from the spec's text.

Each suite-3 side costs CPace's generator and two to four X25519s, so the
tests keep their handshakes few; the attempts that only have to fail are
played by a cheap attacker (any Y_s that is not of low order, garbage
after it): F still runs its share and K for each, exactly what it spends on
a real wrong secret.
"""

import pair
import spec2
from drbg import Drbg
from ephkey import errors, events, wire
from ephkey.config import Pairing, SecondConfig
from ephkey.cpace import IR, calculate_generator_into, isk_into
from ephkey.second import SecondStation
from ephkey.x25519 import x25519
from mpunit import raises
from pair import ID_F, Tape, deliver, drain, outputs, work

SECRET = b"correct horse 42"
ID_S = b"SECOND00"
L = 20000  # lifetime_ms (pair.first's default)


def records(secret=SECRET, id_s=ID_S):
    """F's record (the secret) and S's (user: true) for one S."""
    return Pairing(ID_F, id_s, user=secret), Pairing(ID_F, id_s, user=True)


def stations(secret=SECRET, **kw):
    fr, sr = records(secret)
    kw.setdefault("suites", (3,))
    f = pair.first(pairings=[fr], **kw)
    f.rng = Tape(f.rng)
    s = SecondStation(SecondConfig(max_payload=64, offer=(3,)), sr, Tape(Drbg(b"S3")), 0)
    return f, s


class Starts:
    """The X25519 runs a station starts, by the scalar they use."""

    def __init__(self, st):
        self.scalars = []
        real = st._x.start

        def start(out, scalar, u=None):
            self.scalars.append(bytes(scalar))
            real(out, scalar, u)

        st._x.start = start


def _ready(f, now=0):
    f.prepare(now)
    work(f, now)
    assert drain(f) == [] and outputs(f) == []


def _run(f, s, secret, now=0):
    """S connects with ``secret``; frames go round until all is quiet.
    Returns the frames in order as (sender, frame)."""
    rec = []
    s.connect(now, secret)
    moved = True
    while moved:
        moved = False
        for st in (f, s):
            if st.busy():
                work(st, now)
                moved = True
        for snd, src, dst in (("S", s, f), ("F", f, s)):
            for fr in outputs(src):
                rec.append((snd, fr))
                dst.receive(fr, len(fr), now)
                moved = True
    return rec


def _fake_proof(srk, y_s=b"\x09" + bytes(31)):
    """An attacker's suite-3 PROOF for an SRK frame: a valid share, garbage after."""
    return b"\x23" + bytes(srk[1:3]) + y_s + bytes(range(32)) + bytes(16) + bytes(8)


def _attempt(f, req, now):
    """One attacker attempt at F: the REQ, F's share job, a fake PROOF, the
    check job. Returns F's events."""
    deliver([req], f, now)
    work(f, now)
    srk = outputs(f)
    assert len(srk) == 1 and len(srk[0]) == 80, srk
    deliver([_fake_proof(srk[0])], f, now)
    work(f, now)
    outputs(f)
    return drain(f)


def _req(n_s, offer=4, id_s=ID_S):
    return b"\x21" + id_s + n_s + bytes((offer,))


# ------------------------------------------------------------- the handshake

def test_right_secret_establishes_and_every_value_follows_the_spec():
    f, s = stations()
    _ready(f)
    rec = _run(f, s, SECRET)
    sid = s.sid
    assert drain(f) == [("ESTABLISHED", sid, 0)] and drain(s) == [("ESTABLISHED", sid, 0)]
    assert [(snd, fr[0], len(fr)) for snd, fr in rec] == [
        ("S", 0x21, 22), ("F", 0x22, 80), ("S", 0x23, 91), ("F", 0x24, 27)]
    assert sum(len(fr) for _, fr in rec) == 220  # 15.10's cost line
    req, srk, proof, key = [fr for _, fr in rec]
    assert req[21] == 4  # S offers suite 3 only
    assert srk[3] == 3 and srk[1:3] == bytes((sid >> 8, sid & 255))
    # F's draws: the key pair, then one draw at the REQ: sid seed, n_f, IDRKs, y_f
    assert [len(d) for d in f.rng.draws] == [32, 2 + 12 + 16 * 4 + 32]
    draw = f.rng.draws[1]
    assert srk[4:16] == draw[2:14]
    y_f = draw[-32:]
    # S's draws: n_s at connect, y_s then e_priv in one call at the SRK frame
    assert [len(d) for d in s.rng.draws] == [12, 64]
    y_s, e_priv = s.rng.draws[1][:32], s.rng.draws[1][32:]
    slot = f.table.srk_slot[f.table.find_sid(sid)]
    srk_pub = bytes(f.ring.pub_views[slot])
    assert srk[16:48] == srk_pub
    # CPace (docs/cpace.md): CI, sid, the generator and both shares
    ci = b"\x0cephkey v2 s3\x08" + ID_S + b"\x08" + ID_F
    csid = req[9:21] + srk[4:16]
    g = bytearray(32)
    calculate_generator_into(g, SECRET, ci, csid)
    assert srk[48:80] == x25519(y_f, g)
    assert proof[3:35] == x25519(y_s, g)
    k = x25519(y_s, srk[48:80])
    assert k == x25519(y_f, proof[3:35])
    isk = bytearray(64)
    isk_into(isk, k, csid, IR, proof[3:35], req, srk[48:80], srk[0:48])
    # the key schedule of 15.10, written out
    th2 = spec2.H(spec2.H(req), srk)
    prk = spec2.hmac(th2, isk)
    kp = spec2.expand(prk, spec2.lbl(3, b"pmac") + th2, 32)
    spv = spec2.expand(prk, spec2.lbl(3, b"sp") + th2, 16)
    psu = spec2.expand(prk, spec2.lbl(3, b"ps") + th2, 32)
    assert proof[35:67] == x25519(e_priv, b"\x09" + bytes(31))
    dh = x25519(e_priv, srk_pub)
    prk3 = spec2.hmac(th2, dh, psu)
    pad = spec2.expand(prk3, spec2.lbl(3, b"pad"), 16)
    assert proof[67:83] == bytes(a ^ b for a, b in zip(spv, pad))
    assert proof[83:91] == spec2.hmac(kp, proof[0:83])[:8]
    th3 = spec2.H(th2, proof)
    ms = spec2.expand(prk3, spec2.lbl(3, b"ms") + th3, 32)
    kek0 = spec2.expand(ms, spec2.lbl(3, b"kek") + b"\x00", 16)
    assert spec2.unwrap(kek0, key[3:27]) == draw[14:30]  # IDRK_0
    # the secrets of the handshake are gone (9.3): y_f with the slot's use,
    # K, ISK, PSU, the generator in the job's buffers; S's copy of the secret
    assert f.table.y_f == bytearray(len(f.table.y_f))
    for st in (f, s):
        s3 = st._s3
        for b in (s3.g, s3.k, s3.isk, s3.prk, s3.psu, s3.pads):
            assert b == bytearray(len(b))
    assert s._prs == bytearray(64) and s._y_s == bytearray(32) and s._e_priv == bytearray(32)
    # DATA both ways under IDRK_0
    s.send(b"hi F", 4, 1)
    deliver(outputs(s), f, 1)
    assert drain(f) == [("DATA", sid, 0, b"hi F")]
    f.send(sid, b"hi S", 4, 1)
    deliver(outputs(f), s, 1)
    assert drain(s) == [("DATA", sid, 0, b"hi S")]


def test_wrong_secret_is_wrong_code_at_both_and_no_dh_before_t():
    f, s = stations()
    _ready(f)
    x = Starts(f)
    slot_priv = bytes(f.ring.priv_views[f.ring.find(0)])
    rec = _run(f, s, b"correct horse 43")
    sid = rec[1][1][1] << 8 | rec[1][1][2]
    assert [(snd, fr[0]) for snd, fr in rec] == [("S", 0x21), ("F", 0x22), ("S", 0x23),
                                                ("F", 0x2F)]
    assert rec[3][1] == b"\x2f" + rec[1][1][1:3] + bytes((errors.WRONG_CODE,))
    assert drain(f) == [("ERROR", sid, 21), ("HANDSHAKE_FAILED", sid, 21)]
    assert drain(s) == [("PEER_ERROR", sid, 21), ("HANDSHAKE_FAILED", sid, 21)]
    # F ran CPace's two X25519s (Y_f at the REQ, K at the PROOF), never the DH
    assert len(x.scalars) == 2 and slot_priv not in x.scalars
    assert f.table.find_sid(sid) < 0  # proof_tries is 1 for suite 3: the slot is free
    assert s.state == 0 and f._s3.backoff[0].fails == 1 and s._s3.backoff[0].fails == 1
    for st in (f, s):
        s3 = st._s3
        for b in (s3.g, s3.k, s3.isk, s3.prk, s3.psu, s3.pads):
            assert b == bytearray(len(b))
    assert f.table.y_f == bytearray(len(f.table.y_f)) and s._prs == bytearray(64)
    # the right secret next: established, and both counts are back to 0
    x.scalars = []
    _run(f, s, SECRET, 10)
    assert drain(f)[-1][0] == "ESTABLISHED" and drain(s)[-1][0] == "ESTABLISHED"
    assert slot_priv in x.scalars  # the DH ran, after t
    assert f._s3.backoff[0].fails == 0 and s._s3.backoff[0].fails == 0


def test_req_is_refused_while_the_share_is_made_and_no_x25519_runs_in_receive():
    f, s = stations()
    _ready(f)
    x = Starts(f)
    s.connect(0, SECRET)
    req = outputs(s)[0]
    deliver([req], f, 0)
    assert outputs(f) == [] and drain(f) == [] and x.scalars == []  # SHARING: a job
    assert f.busy() and f.table.state[0] == 5
    deliver([req], f, 1)  # a retransmission while SHARING: ignored
    assert outputs(f) == [] and drain(f) == []
    work(f, 2)
    srk = outputs(f)
    assert len(srk) == 1 and len(srk[0]) == 80 and len(x.scalars) == 1
    deliver([req], f, 3)  # now WAIT_PROOF: the same SRK frame again
    assert outputs(f) == srk and drain(f) == []
    # a PROOF for a SHARING slot cannot exist: S has no SRK frame yet
    f2, _ = stations()
    _ready(f2)
    deliver([req], f2, 0)
    p = _fake_proof(b"\x22" + srk[0][1:3])
    sid2 = f2.table.sid[0]
    p = p[:1] + bytes((sid2 >> 8, sid2 & 255)) + p[3:]
    deliver([p], f2, 0)
    assert drain(f2) == [("ERROR", sid2, errors.UNEXPECTED)]


# ------------------------------------------------------------- the back-off

def test_ten_failed_attempts_back_off_and_req_is_answered_backoff_until_it_ends():
    f, _ = stations()
    _ready(f)
    evs = []
    for i in range(10):
        evs += _attempt(f, _req(b"n_s-%08d" % i), 100 * i)
    wrong = [e for e in evs if e[0] == "HANDSHAKE_FAILED"]
    assert len(wrong) == 10 and all(e[2] == errors.WRONG_CODE for e in wrong)
    assert evs[-1][0] == "BACKOFF" and evs[-1][2] == 30000, evs[-3:]
    assert [e[0] for e in evs].count("BACKOFF") == 1  # only the tenth starts one
    assert evs[-2] == ("HANDSHAKE_FAILED", evs[-1][1], errors.WRONG_CODE)
    # backing off: ERROR(BACKOFF), no slot, no draw, no job
    drawn = len(f.rng.draws)
    t = 900 + 1000
    deliver([_req(b"n_s-backoff1")], f, t)
    assert drain(f) == [("ERROR", 0, errors.BACKOFF)]
    assert outputs(f) == [b"\x2f\x00\x00\x17"]
    assert len(f.rng.draws) == drawn and not f.busy() and f.table.count_state(0) == 4
    # the back-off ends 30 s after the tenth failure: one attempt, which fails
    # again and doubles it
    deliver([_req(b"n_s-backoff2")], f, 900 + 29999)
    assert drain(f) == [("ERROR", 0, errors.BACKOFF)]
    outputs(f)
    _ready(f, 900 + 30000)  # the key pair of that interval
    evs = _attempt(f, _req(b"n_s-attempt1"), 900 + 30000)
    assert evs[-1][0] == "BACKOFF" and evs[-1][2] == 60000, evs
    # another id_s has its own count. Its attempts here are REQs that replace
    # each other while SHARING: each counts, and F spends no X25519 on them
    # (the job is dropped before it ran); the REQ that would start the back-off
    # is refused with it
    f2 = pair.first(pairings=[records()[0], records(b"other secret", b"SECOND01")[0]],
                    suites=(3,))
    _ready(f2)
    x = Starts(f2)
    for i in range(10):
        deliver([_req(b"n_s-%08d" % i)], f2, i)
    assert x.scalars == [] and f2._s3.backoff[0].fails == 9
    assert drain(f2) == []  # replaced silently (4.2 step 3 (a))
    deliver([_req(b"n_s-%08d" % 10)], f2, 10)
    ev = drain(f2)
    assert ev == [("BACKOFF", ev[0][1], 30000), ("ERROR", 0, errors.BACKOFF)], ev
    assert f2._s3.backoff[0].fails == 10 and not f2.busy()
    deliver([_req(b"n_s-other-01", id_s=b"SECOND01")], f2, 20)
    assert drain(f2) == [] and f2.busy()  # served: the share's job
    deliver([_req(b"n_s-seconds0")], f2, 20)
    assert drain(f2) == [("ERROR", 0, errors.BACKOFF)]


def test_an_accepted_proof_resets_the_count_and_unanswered_reqs_count():
    f, s = stations()
    _ready(f)
    evs = []
    for i in range(8):
        evs += _attempt(f, _req(b"n_s-%08d" % i), i)
    assert f._s3.backoff[0].fails == 8
    # a REQ whose slot dies at its deadline counts (HANDSHAKE_FAILED(TIMEOUT));
    # one replaced by the peer's next REQ counts too (silently)
    deliver([_req(b"n_s-timeout1")], f, 100)
    work(f, 100)
    outputs(f)
    f.poll(100 + L)
    ev = drain(f)
    assert ev[0][0] == "HANDSHAKE_FAILED" and ev[0][2] == errors.TIMEOUT, ev
    assert f._s3.backoff[0].fails == 9
    _ready(f, 100 + L)  # the next interval's key pair
    deliver([_req(b"n_s-replace1")], f, 100 + L)
    work(f, 100 + L)
    outputs(f)
    # P's next REQ would take its half-open slot (a); that ends a tenth attempt,
    # which starts the back-off, so this REQ is refused with BACKOFF (as 15.5's
    # PAIR_HELLO step 6): no draw, no job
    drawn = len(f.rng.draws)
    deliver([_req(b"n_s-replace2")], f, 101 + L)
    assert f._s3.backoff[0].fails == 10
    ev = drain(f)
    assert ev == [("BACKOFF", ev[0][1], 30000), ("ERROR", 0, errors.BACKOFF)], ev
    assert outputs(f) == [b"\x2f\x00\x00\x17"]
    assert len(f.rng.draws) == drawn and not f.busy() and f.table.count_state(0) == 4
    # back off, then the user's right secret: the count starts again at 0
    t = 101 + L + 30000
    _ready(f, t)
    _run(f, s, SECRET, t)
    assert drain(f)[-1][0] == "ESTABLISHED"
    assert f._s3.backoff[0].fails == 0


def test_second_station_counts_its_failed_proofs_and_refuses_connect_while_backing_off():
    f, s = stations()
    _ready(f)
    # S's count: a PROOF whose handshake ended without a KEY. Nine by F's
    # WRONG_CODE, the tenth by S's own retransmissions running out.
    for i in range(9):
        _run(f, s, b"wrong secret %d" % i, i)
        ev = drain(s)
        assert [e[0] for e in ev] == ["PEER_ERROR", "HANDSHAKE_FAILED"], ev
        assert ev[1][2] == errors.WRONG_CODE
    assert s._s3.backoff[0].fails == 9
    drain(f)
    s.connect(10, SECRET)
    deliver(outputs(s), f, 10)
    work(f, 10)
    deliver(outputs(f), s, 10)
    work(s, 10)
    assert len(outputs(s)[0]) == 91  # the PROOF, lost on its way to F
    for i in range(1, 6):
        s.poll(10 + 1000 * i)
        outputs(s)
    evs = drain(s)
    assert [e[0] for e in evs] == ["HANDSHAKE_FAILED", "BACKOFF"], evs
    assert evs[0][2] == errors.TIMEOUT and evs[1][2] == 30000
    s.connect(6000, SECRET)
    assert drain(s) == [("HANDSHAKE_FAILED", 0, errors.BACKOFF)] and outputs(s) == []
    s.connect(5010 + 30000, SECRET)
    assert drain(s) == [] and len(outputs(s)) == 1


# ------------------------------------------------------------- records and suites

def test_a_user_record_takes_only_suite_3_and_a_ps_record_never_does():
    fr, sr = records()
    ps = pair.pairing(1)  # id_s SECOND01, a ps record
    f = pair.first(pairings=[fr, ps], suites=(3, 2, 1))
    _ready(f)
    # the user record's S offering suites 1 and 2: BAD_SUITE
    deliver([_req(b"n_s-offer-12", offer=3)], f, 0)
    assert drain(f) == [("ERROR", 0, errors.BAD_SUITE)]
    assert outputs(f) == [b"\x2f\x00\x00\x03"]
    # the ps record's S offering suite 3 only: BAD_SUITE; with 2 as well: suite 2
    deliver([_req(b"n_s-offer-3x", offer=4, id_s=ps.id_s)], f, 0)
    assert drain(f) == [("ERROR", 0, errors.BAD_SUITE)]
    outputs(f)
    deliver([_req(b"n_s-offer-7x", offer=7, id_s=ps.id_s)], f, 0)
    srk = outputs(f)
    assert len(srk) == 1 and srk[0][3] == 2 and len(srk[0]) == 64
    # an F whose settings leave suite 3 out refuses it even for a user record,
    # and loads no CPace code
    f1 = pair.first(pairings=[fr, ps])
    assert f1._s3 is None
    deliver([_req(b"n_s-offer-4x", offer=4)], f1, 0)
    assert drain(f1) == [("ERROR", 0, errors.BAD_SUITE)]
    # S: suite 3 is offered alone, with a user record, and needs the secret
    raises(ValueError, lambda: SecondConfig(offer=(3, 2)))
    raises(ValueError, lambda: SecondStation(SecondConfig(offer=(2, 1)), sr, Drbg(b"S"), 0))
    raises(ValueError, lambda: SecondStation(SecondConfig(offer=(3,)), ps, Drbg(b"S"), 0))
    s = SecondStation(SecondConfig(offer=(3,)), sr, Drbg(b"S"), 0)
    assert s.offer == 4
    raises(ValueError, lambda: s.connect(0, None))
    raises(ValueError, lambda: s.connect(0, b"short"))  # 8 to 64 bytes
    raises(ValueError, lambda: s.connect(0, bytes(65)))
    s2 = SecondStation(SecondConfig(), pair.pairing(0), Drbg(b"S"), 0)
    raises(ValueError, lambda: s2.connect(0, SECRET))  # a ps record has no secret
    assert s2._s3 is None and s2.offer == 3
    raises(ValueError, lambda: Pairing(ID_F, ID_S, ps=bytes(16), user=SECRET))
    raises(ValueError, lambda: Pairing(ID_F, ID_S))
    # S with a user record refuses a suite-2 SRK frame (not in its offer)
    s.connect(0, SECRET)
    outputs(s)
    deliver(srk, s, 0)
    assert drain(s) == [("ERROR", srk[0][1] << 8 | srk[0][2], errors.BAD_SUITE)]
    assert f._s3 is not None


def test_low_order_share_is_auth_failed_and_counted():
    f, _ = stations()
    _ready(f)
    deliver([_req(b"n_s-loworder")], f, 0)
    work(f, 0)
    srk = outputs(f)[0]
    sid = srk[1] << 8 | srk[2]
    deliver([_fake_proof(srk, bytes(32))], f, 0)  # Y_s = 0: K all zeros
    work(f, 0)
    assert outputs(f) == [b"\x2f" + srk[1:3] + bytes((errors.AUTH_FAILED,))]
    assert drain(f) == [("ERROR", sid, 8), ("HANDSHAKE_FAILED", sid, 8)]
    assert f._s3.backoff[0].fails == 1 and f.table.find_sid(sid) < 0


def test_events_and_errors_have_names():
    assert events.NAMES[events.BACKOFF] == "BACKOFF"
    assert errors.NAMES[errors.WRONG_CODE] == "WRONG_CODE"
    assert errors.NAMES[errors.BACKOFF] == "BACKOFF"
    assert wire.frame_len_ok(wire.SRK, 80, 0, 3) and wire.frame_len_ok(wire.PROOF, 91, 0)
