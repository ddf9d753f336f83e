"""Forward secrecy across rotations (issue 12 item 3, docs/protocol.md 9.2).

A suite-2 session runs to key 3 with traffic under every key, the
interval's key pair leaves the ring, and then the whole state of both
stations (every buffer reachable from them, PS and the ring included) and
the recording are handed to an attacker who tries every 16-byte window as an
IDRK or a KEK and every 32-byte window as DH, PRK3, MS or a chain key (with
PS and the transcript to derive what follows, spec2.py): no frame sent under
keys 0-2 opens, and none of the wrapped keys F sent for indexes 0-3 unwraps.

The same scan against a first station that keeps MS (the version-1 key
schedule kept it all session) opens frames of key 0, and one that keeps
CK_1 opens frames of keys 1 and 2: the scan can fail.
"""

import pair
import spec2
from ephkey.first import FirstStation
from pair import outputs, pairing, work

L = 10000
M = 2
ROTATE_MS = 6000  # rotations at 6, 12, 18 s; the key pair leaves the ring at 20 s


class KeepsMs(FirstStation):
    """A first station that keeps a copy of MS (as version 1 did)."""

    def _accept(self, slot, now_ms):
        # on entry the Mac holds PRK3: derive MS the way _accept will
        from ephkey import keyschedule as ks
        t = self.table
        th_3 = ks.th_next(t.th2_view(slot), t.proof_view(slot, t.suite[slot]))
        self.kept = bytearray(32)
        self._mac.expand(ks.MS[t.suite[slot]], th_3, 0, 32, self.kept, 0, 32)
        super()._accept(slot, now_ms)


class KeepsCk1(FirstStation):
    """A first station that keeps a copy of CK_1."""

    def _accept(self, slot, now_ms):
        super()._accept(slot, now_ms)
        self.kept = bytearray(self.table.ck[32 * slot:32 * slot + 32])


def _run(cls=FirstStation):
    """A session to key 3 at both stations; returns (f, s, rec, rekeys)."""
    from drbg import Drbg
    from ephkey.config import FirstConfig
    # rotations by key age (rotate_ms), so that the run stops exactly at key 3
    cfg = FirstConfig(interval_ms=L, lifetime_ms=L, m=M, ring_slots=3, sessions=2, idrks=5,
                      rotate_frames=1000, rotate_ms=ROTATE_MS, max_payload=32, out_queue=4,
                      suites=(2,))
    f = cls(cfg, [pairing(0)], Drbg(b"ratchet F"), 0)
    s = pair.second(0, offer=(2,), max_payload=32)
    rec = []
    rekeys = {}  # REKEY plaintexts, as S saw them: the demonstrator's record

    def move(now):
        moved = True
        while moved:
            moved = False
            for st in (f, s):
                if st.busy():
                    work(st, now)
                    moved = True
            for sender, a, b in (("S", s, f), ("F", f, s)):
                for fr in outputs(a):
                    moved = True
                    rec.append((sender, fr))
                    b.receive(fr, len(fr), now)
                    if fr[0] == 0x26 and b is s:
                        rekeys[s.payload[0]] = bytes(s.payload[:25])
            pair.drain(f)
            pair.drain(s)

    f.prepare(0)
    s.connect(0)
    move(0)
    assert s.state == 3
    sid = s.sid
    slot = f.table.find_sid(sid)
    now = 1
    for j in range(4):  # traffic under key j both ways, then F rotates to j+1
        s.send(b"s%d" % j, 2, now)
        move(now)
        f.send(sid, b"f%d" % j, 2, now)
        move(now)
        if j < 3:
            now = ROTATE_MS * (j + 1)
            f.poll(now)  # the key is rotate_ms old: REKEY(j+1); S's KEY_ACK completes it
            move(now)
            now += 1
    # at key 3 (9.2): both switched to key 3, no REKEY pending
    assert f.table.send_idx[slot] == 3 and f.table.recv_idx[slot] == 3 and s.recv_idx == 3
    assert s.send_idx == 3 and f.table.pending[slot] < 0
    kidx = set((snd, fr[3]) for snd, fr in rec if 0x25 <= fr[0] <= 0x28)
    for j in range(4):
        assert ("S", j) in kidx and ("F", j) in kidx, kidx
    assert sorted(rekeys) == [1, 2, 3], rekeys
    f.poll(M * L)  # the interval's key pair leaves the ring (M x L after it started)
    assert f.ring.live_count() == 0 and f.table.find_sid(sid) >= 0
    return f, s, rec, rekeys


def _buffers(obj, seen, out, path):
    """Every bytes-like object reachable from obj (its attributes, lists, tuples),
    but not the test's RNG (the DRBG seed is the demonstrator's, not state)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (bytes, bytearray)):
        if any(obj):
            out.append((path, bytes(obj)))
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _buffers(v, seen, out, "%s[%d]" % (path, i))
        return
    d = getattr(obj, "__dict__", None)
    if not d or isinstance(obj, type):
        return
    for name in d:
        if name == "rng":
            continue
        _buffers(d[name], seen, out, path + "." + name)


def state_of(*stations):
    out = []
    seen = set()
    for i, st in enumerate(stations):
        _buffers(st, seen, out, "FS"[i])
        for p in getattr(st, "pairings", [getattr(st, "pairing", None)]):
            _buffers(p, seen, out, "FS"[i] + ".pairing")
    return out


def _windows(bufs, n):
    """Every non-zero n-byte window, with where it was found (one at a time: a
    table of them all would not fit in the emulated board's heap)."""
    for path, b in bufs:
        for i in range(len(b) - n + 1):
            w = b[i:i + n]
            if any(w):
                yield w, "%s+%d" % (path, i)


class Attack:
    """What a window gives, as 3.11 says; ``hits`` lists what opened."""

    def __init__(self, rec, rekeys, ps, stop_at_first=False):
        self.rec = rec
        self.ps = bytes(ps)
        self.stop = stop_at_first
        frames = [fr for _, fr in rec]
        req = [fr for fr in frames if fr[0] == 0x21][0]
        srk = [fr for fr in frames if fr[0] == 0x22][0]
        proof = [fr for fr in frames if fr[0] == 0x23][0]
        key = [fr for fr in frames if fr[0] == 0x24][0]
        self.th2 = spec2.H(spec2.H(req), srk)
        self.th3 = spec2.H(self.th2, proof)
        # the wrapped keys F sent for indexes 0-3: KEY's, and each REKEY's
        self.wrapped = {0: key[3:27]}
        for j in (1, 2, 3):
            self.wrapped[j] = rekeys[j][1:25]
        # one recorded frame per key index 0-2 and direction
        self.samples = {}
        for sender, fr in rec:
            if 0x25 <= fr[0] <= 0x28 and fr[3] <= 2:
                self.samples.setdefault((fr[3], sender), fr)
        assert len(self.samples) == 6, sorted(self.samples)
        self.hits = []

    def _hit(self, what, where):
        self.hits.append((what, where))
        return self.stop

    def as_key16(self, w, where):
        for (j, sender), fr in self.samples.items():
            if spec2.open_frame(w, fr, sender) is not None:
                if self._hit("frame under key %d opened with an IDRK" % j, where):
                    return True
        for j, wr in self.wrapped.items():
            if spec2.unwrap(w, wr) is not None:
                if self._hit("IDRK_%d unwrapped with a KEK" % j, where):
                    return True
        return False

    def chain_from(self, ck, j, what, where):
        """CK_j = ck: KEK_j .. KEK_3 unwrap the wrapped IDRKs?"""
        while j <= 3:
            kek, ck = spec2.chain(ck, j, 2)
            idrk = spec2.unwrap(kek, self.wrapped[j])
            if idrk is not None:
                for (i, sender), fr in self.samples.items():
                    if i == j and spec2.open_frame(idrk, fr, sender) is not None:
                        if self._hit("frames of key %d opened from %s" % (j, what), where):
                            return True
                if self._hit("IDRK_%d unwrapped from %s" % (j, what), where):
                    return True
            j += 1
        return False

    def as_key32(self, w, where):
        prk3 = spec2.hmac(self.th2, w, self.ps)  # w as DH
        for what, start in (("DH", prk3), ("PRK3", w)):
            ms = spec2.expand(start, spec2.lbl(2, b"ms") + self.th3, 32)
            if self.chain_from(ms, 0, "a window as " + what, where):
                return True
        for j in (0, 1, 2, 3):  # w as MS = CK_0, or as CK_j
            if self.chain_from(w, j, "a window as CK_%d" % j, where):
                return True
        return False

    def run(self, bufs):
        for w, where in _windows(bufs, 16):
            if self.as_key16(w, where):
                return self.hits
        for w, where in _windows(bufs, 32):
            if self.as_key32(w, where):
                return self.hits
        return self.hits


def test_the_state_at_key_3_and_the_recording_open_nothing_sent_under_keys_0_to_2():
    f, s, rec, rekeys = _run()
    bufs = state_of(f, s)
    names = [p for p, _ in bufs]
    # what the state holds for this session (9.2): F: IDRK_3.. and CK_4; S: IDRK_3, CK_4
    t = f.table
    slot = 0 if t.state[0] else 1
    assert any(bytes(t.ck[32 * slot:32 * slot + 32]) in b for _, b in bufs)
    assert bytes(s._ck) == bytes(t.ck[32 * slot:32 * slot + 32])
    assert len(bufs) > 20, names
    a = Attack(rec, rekeys, pairing(0).ps)
    hits = a.run(bufs)
    assert hits == [], hits
    # the attack is not blind: the state does open keys 3 and later
    assert a.chain_from(bytes(s._ck), 4, "CK_4", "S._ck") is False  # nothing wrapped past 3
    idrk3 = bytes(s._keys[16:32])
    assert any(spec2.open_frame(idrk3, fr, snd) is not None for snd, fr in rec if fr[3] == 3
               and 0x25 <= fr[0] <= 0x28)


def test_a_first_station_that_keeps_ms_lets_the_same_scan_open_key_0():
    f, s, rec, rekeys = _run(KeepsMs)
    hits = Attack(rec, rekeys, pairing(0).ps).run([("F.kept", bytes(f.kept))])
    assert any("key 0" in h[0] or "IDRK_0" in h[0] for h in hits), hits
    assert any("key 1" in h[0] for h in hits) and any("key 2" in h[0] for h in hits), hits


def test_a_first_station_that_keeps_ck1_lets_the_same_scan_open_keys_1_and_2():
    f, s, rec, rekeys = _run(KeepsCk1)
    hits = Attack(rec, rekeys, pairing(0).ps, stop_at_first=False).run(state_of(f, s))
    assert any("frames of key 1" in h[0] for h in hits), hits
    assert any("frames of key 2" in h[0] for h in hits), hits
    assert not any("key 0" in h[0] or "IDRK_0" in h[0] for h in hits), hits
