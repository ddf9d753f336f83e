"""Validator of one session's transcript (a capture of frames in order), version 2.

``validate(frames, pairing=None, *, e_priv=None, srk_priv=None)`` takes
``(direction, bytes)`` pairs, where direction is ``keyschedule.DIR_F2S`` (1,
also ``"F2S"``) or ``DIR_S2F`` (2, ``"S2F"``), and returns a :class:`Report`
with one :class:`FrameCheck` per frame: ok, or the error code and the field at
fault, with the decoded fields.

What is checked, in the receivers' order (4.4, 4.5, 5.2):

* always: lengths, ``ver``, types and the direction each may travel, REQ's
  offer (and a suite in common with ``suites``, F's accepted suites, when
  given), ``seq`` < 2**30, the handshake order REQ -> SRK -> PROOF -> KEY ->
  protected frames, one sid and one suite for the session (from the first SRK
  frame), a PROOF of the suite's length, retransmissions (a handshake frame
  repeated byte for byte while its sender may still repeat it), key indexes
  (S moves to j+1 only after a REKEY under j, F only after S used j+1, nobody
  goes back), ``seq`` strictly increasing per (key, direction), CLOSE (below);
* with the pairing (PS): ``id_s``, the SRK frame (suite 1: KEK2 and the SRK
  unwrap; suite 2: ``auth``), the PROOF's ``t`` under KP (both suites: KP
  needs only PS and the transcript) and, given the SRK or DH, its ``c``, then
  IDRK_0 under KEK_0, each protected frame's tag and each REKEY's index and
  unwrap under KEK_j of the key chain (3.6: CK_0 = MS, CK_{j+1} from CK_j).

Suite 2 (3.9). PS alone checks everything up to ``t``; ``c``, MS and all that
follows need DH, which needs one private key of the handshake: ``e_priv``
(S's) or ``srk_priv`` (the interval's, F's). Without one they are listed in
``Report.unverified``; a key that does not match the frame's public key is
reported there and not used. ``srk_pub`` and ``e_pub`` of low order are
AUTH_FAILED (no secret needed).

``Report.intermediates`` holds every derived value, by the names of 3.11:
``th1, prk, kek2, srk`` (suite 1) or ``ka, auth, srk_pub, e_pub, dh`` (suite
2), ``th2, kp, spv, prk3, pad, c, t, th3, ms, kek_0, ck_1, idrk_0`` and, for
each REKEY(j), ``kek_j, ck_{j+1}, idrk_j``.

Suite 3 (15.10). Every key needs CPace's K, so one CPace scalar of the
handshake: ``y_s`` (S's) or ``y_f`` (F's), used only if the pairing holds the
user's secret (F's record) and the scalar makes the recorded share from the
secret's generator; then ``t`` (WRONG_CODE), SPV, PSU, and with ``e_priv`` or
``srk_priv`` also ``c``, MS and all that follows. Without them only the
structure and the low-order shares (AUTH_FAILED) are checked. Intermediates
add ``g, k, isk, psu``.

Frames that cross a CLOSE. The line is full duplex: a station sends until it
has received the other's CLOSE, so frames from the other direction may follow
a CLOSE in the capture (an F REKEY or DATA sent while S's CLOSE was on the
wire; an S DATA behind F's CLOSE(KEYS_EXHAUSTED); the other side's own CLOSE).
The receiver, which freed the session, drops them (UNKNOWN_SESSION, no answer:
4.4 items 4-5, 5.4). Such a frame gets every check it would get without the
CLOSE (key index, tag, ``seq``, a REKEY's unwrap) and, if it passes, is ok with
``FrameCheck.crossed`` set (``Report.crossed()``). A frame sent after its own
sender's CLOSE, or after both sides closed, is UNKNOWN_SESSION.

A frame that fails is reported and otherwise ignored, as a station drops it
(a forged PROOF does not end the session here; F's count of failed PROOFs
and its clock are out of reach, as are BUSY and timeouts).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field as dc_field

from . import cpace, crypto, keyschedule as ks, wire
from .config import Pairing
from .errors import Code, ProtocolError

_DIRS = {ks.DIR_F2S: ks.DIR_F2S, ks.DIR_S2F: ks.DIR_S2F, "F2S": ks.DIR_F2S, "S2F": ks.DIR_S2F}


@dataclass
class FrameCheck:
    index: int
    direction: int
    type_name: str
    ok: bool
    code: Code | None = None
    field: str = ""
    detail: str = ""
    fields: list[dict[str, object]] = dc_field(default_factory=list)
    # ok, but sent after the other station's CLOSE, which it had not received yet
    crossed: bool = False


CROSSED_DETAIL = "crossed CLOSE: sent before the other station's CLOSE reached its sender"


@dataclass
class Report:
    checks: list[FrameCheck]
    intermediates: dict[str, str]
    # What could not be checked for want of a secret (PS, or in suite 2 DH).
    unverified: list[str] = dc_field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def errors(self) -> list[FrameCheck]:
        return [c for c in self.checks if not c.ok]

    def crossed(self) -> list[FrameCheck]:
        """Valid frames that crossed the other station's CLOSE on the wire."""
        return [c for c in self.checks if c.crossed]


class _Fail(Exception):
    def __init__(self, code: Code, field_: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.field = field_
        self.detail = detail


class _Checker:
    def __init__(self, pairing: Pairing | None, max_payload: int,
                 e_priv: bytes | None = None, srk_priv: bytes | None = None,
                 suites: Iterable[int] = wire.IMPLEMENTED_SUITES,
                 y_s: bytes | None = None, y_f: bytes | None = None):
        self.pairing = pairing
        self.accepted = wire.suites_to_offer(suites)
        self.max_payload = max_payload
        self.e_priv = e_priv
        self.srk_priv = srk_priv
        self.y_s = y_s  # suite 3: a CPace scalar of the handshake (S's or F's)
        self.y_f = y_f
        self.inter: dict[str, str] = {}
        self.unverified: list[str] = []
        self.req: bytes | None = None
        self.n_s = b""
        self.offer = 0
        self.th1 = b""
        self.srk_frame: bytes | None = None
        self.sid = 0
        self.suite = 0
        self.srk = b""  # suite 1's SRK, once unwrapped
        self.srk_pub = b""
        self.prk = b""
        self.th2 = b""
        self.proof: bytes | None = None
        self.ms = b""
        self.chain: list[bytes] = []  # CK_0 = MS, CK_1, ...
        self.key_frame: bytes | None = None
        self.keys: dict[int, bytes] = {}
        self.protected_from: set[int] = set()  # directions that sent a protected frame
        self.closed_by = 0  # direction of the first CLOSE (0: none yet)
        self.closed_both = False  # the other direction's CLOSE crossed it
        self.crossed = False  # the last frame checked crossed a CLOSE
        self.f_send = 0
        self.s_send = 0
        self.announced: set[int] = set()
        self.last_seq: dict[tuple[int, int], int] = {}

    def _unverified(self, what: str) -> None:
        if what not in self.unverified:
            self.unverified.append(what)

    def check(self, direction: int, raw: bytes) -> wire.Frame:
        self.crossed = False
        fr = self._check(direction, raw)
        self.crossed = bool(self.closed_by) and fr.type != wire.ERROR and (
            direction != self.closed_by or fr.type != wire.CLOSE)
        return fr

    def frame_check(self, index: int, direction: int, raw: bytes) -> FrameCheck:
        """The verdict on the next frame of the session."""
        name = frame_name(raw)
        try:
            fr = self.check(direction, raw)
        except _Fail as e:
            return FrameCheck(index, direction, name, False, e.code, e.field, e.detail)
        return FrameCheck(index, direction, name, True, fields=fr.describe(),
                          detail=CROSSED_DETAIL if self.crossed else "", crossed=self.crossed)

    def _check(self, direction: int, raw: bytes) -> wire.Frame:
        accepts = wire.ACCEPTED_BY_S if direction == ks.DIR_F2S else wire.ACCEPTED_BY_F
        try:
            fr = wire.decode(raw, accepts, self.max_payload)
        except ProtocolError as e:
            raise _Fail(e.code, e.field, "%s frame rule" % e.code.name) from None
        t = fr.type
        if t == wire.ERROR:
            return fr
        if t == wire.REQ:
            self._req(fr)
        elif self.closed_both:
            raise _Fail(Code.UNKNOWN_SESSION, "sid", "both stations closed the session")
        elif direction == self.closed_by:
            raise _Fail(Code.UNKNOWN_SESSION, "sid", "its sender closed the session")
        elif self.srk_frame is None:
            if t != wire.SRK:
                raise _Fail(Code.UNKNOWN_SESSION, "sid", "no SRK frame named a session yet")
            self._first_srk(fr)
        else:
            if fr.sid != self.sid:
                raise _Fail(Code.UNKNOWN_SESSION, "sid",
                            "sid %d, the session is %d" % (fr.sid, self.sid))
            if t == wire.SRK:
                self._repeat(fr.raw, self.srk_frame, self.key_frame is not None, "SRK after KEY")
            elif t == wire.PROOF:
                self._proof(fr)
            elif t == wire.KEY:
                self._key(fr)
            else:
                self._protected(direction, fr)
        return fr

    @staticmethod
    def _repeat(raw: bytes, first: bytes, too_late: bool, why: str) -> None:
        if raw != first:
            raise _Fail(Code.UNEXPECTED, "type", "a second, different handshake frame")
        if too_late:
            raise _Fail(Code.UNEXPECTED, "type", why)

    def _req(self, fr: wire.Frame) -> None:
        # F's order: peer, suite, then retransmission (4.4 item 3, 4.2).
        if self.pairing is not None and fr.data("id_s") != self.pairing.id_s:
            raise _Fail(Code.UNKNOWN_PEER, "id_s", "id_s is not the pairing's")
        accepted = self.accepted
        if self.pairing is not None:  # 15.10: suite 3 for a user record, 1 and 2 for ps
            accepted &= 0x04 if self.pairing.is_user else 0x03
        if not fr.num("offer") & accepted:
            raise _Fail(Code.BAD_SUITE, "offer", "no suite F accepts is offered")
        if self.req is not None:
            if fr.raw != self.req:
                raise _Fail(Code.UNEXPECTED, "n_s", "a second REQ: another session")
            if self.proof is not None:
                raise _Fail(Code.REPLAY, "n_s", "REQ repeated after PROOF")
            return
        self.req = fr.raw
        self.n_s = fr.data("n_s")
        self.offer = fr.num("offer")
        self.th1 = ks.th1(fr.raw)
        self.inter["th1"] = self.th1.hex()

    def _first_srk(self, fr: wire.Frame) -> None:
        if self.req is None:
            raise _Fail(Code.UNEXPECTED, "type", "SRK before REQ")
        suite = fr.suite
        if not self.offer >> (suite - 1) & 1:
            raise _Fail(Code.BAD_SUITE, "suite", "suite %d not offered" % suite)
        if fr.sid == 0:
            raise _Fail(Code.MALFORMED, "sid", "sid 0")
        prk = b""
        if self.pairing is not None and suite != 3:
            prk = ks.prk(self.n_s, fr.data("n_f"), self.pairing.ps)
        if suite == 3:
            self._srk3(fr)
        elif suite == 2:
            self._srk2(fr, prk)
        elif prk:
            kek2 = ks.kek2(prk, self.th1, fr.raw[:wire.KEK2_HEAD_LEN])
            srk = crypto.kw_unwrap(kek2, fr.data("wrapped_srk"))
            if srk is None:
                raise _Fail(Code.AUTH_FAILED, "wrapped_srk", "SRK unwrap failed")
            self.srk = srk
            self.inter.update(prk=prk.hex(), kek2=kek2.hex(), srk=srk.hex())
        self.srk_frame = fr.raw
        self.sid = fr.sid
        self.suite = suite
        self.prk = prk
        self.th2 = ks.th2(self.th1, fr.raw)
        self.inter["th2"] = self.th2.hex()
        if prk:
            self.inter.update(kp=ks.kp(prk, suite, self.th2).hex(),
                              spv=ks.spv(prk, suite, self.th2).hex())

    def _srk2(self, fr: wire.Frame, prk: bytes) -> None:
        """Suite 2's SRK frame: ``auth`` with PS (S's order: auth, then srk_pub)."""
        srk_pub = fr.data("srk_pub")
        self.inter["srk_pub"] = srk_pub.hex()
        if prk:
            ka = ks.ka(prk, self.th1)
            if not crypto.ct_equal(ks.auth(ka, fr.raw[:wire.SRK2_AUTH_OFFSET]), fr.data("auth")):
                raise _Fail(Code.AUTH_FAILED, "auth", "auth does not verify under KA")
            self.inter.update(prk=prk.hex(), ka=ka.hex(), auth=fr.data("auth").hex())
        else:
            self._unverified("SRK auth (needs PS)")
        self._take_srk_pub(srk_pub)

    def _take_srk_pub(self, srk_pub: bytes) -> None:
        """The interval's public key of a suite-2 or -3 SRK frame: not of low
        order; the srk_priv given is kept only if it is this key's."""
        if crypto.x25519_low_order(srk_pub):
            raise _Fail(Code.AUTH_FAILED, "srk_pub", "srk_pub of low order: DH is all zeros")
        if self.srk_priv is not None and crypto.x25519_base(self.srk_priv) != srk_pub:
            self._unverified("srk_priv given is not the key of this srk_pub: not used")
            self.srk_priv = None
        self.srk_pub = srk_pub

    def _srk3(self, fr: wire.Frame) -> None:
        """Suite 3's SRK frame: nothing keyed; ``srk_pub`` and ``Y_f`` not of low order."""
        srk_pub, y_f = fr.data("srk_pub"), fr.data("Y_f")
        self.inter.update(srk_pub=srk_pub.hex(), Y_f=y_f.hex())
        if crypto.x25519_low_order(y_f):
            raise _Fail(Code.AUTH_FAILED, "Y_f", "Y_f of low order: CPace's K is all zeros")
        self._take_srk_pub(srk_pub)

    def _k3(self, srk_frame: bytes, y_s_share: bytes) -> bytes | None:
        """Suite 3: CPace's K from a scalar whose share the secret's generator
        explains, or None (listed as unverified)."""
        pairing = self.pairing
        user = pairing.user if pairing is not None else None
        if pairing is None or not user or (self.y_s is None and self.y_f is None):
            self._unverified("suite 3: t, c, KEY and protected frames (need the user's "
                             "secret and a CPace scalar, y_s or y_f)")
            return None
        assert self.req is not None
        g = cpace.calculate_generator(user, ks.ci3(self.req[1:9], pairing.id_f),
                                      self.n_s + srk_frame[4:16])
        y_f_share = srk_frame[48:80]
        for y, mine, other in ((self.y_s, y_s_share, y_f_share), (self.y_f, y_f_share,
                                                                  y_s_share)):
            if y is not None and cpace.scalar_mult(y, g) == mine:
                self.inter["g"] = g.hex()
                return cpace.scalar_mult_vfy(y, other)
        self._unverified("suite 3: the scalar given does not make this handshake's share "
                         "with the secret's generator: not used")
        return None

    def _proof3(self, fr: wire.Frame, th3: bytes) -> None:
        """Suite 3's PROOF in F's order (15.10): Y_s, t under KP from ISK, e_pub, c."""
        assert self.srk_frame is not None and self.req is not None
        y_s, e_pub = fr.data("Y_s"), fr.data("e_pub")
        self.inter.update(Y_s=y_s.hex(), e_pub=e_pub.hex())
        if crypto.x25519_low_order(y_s):
            raise _Fail(Code.AUTH_FAILED, "Y_s", "Y_s of low order: CPace's K is all zeros")
        k = self._k3(self.srk_frame, y_s)
        if k is None:
            if crypto.x25519_low_order(e_pub):
                raise _Fail(Code.AUTH_FAILED, "e_pub", "e_pub of low order: DH is all zeros")
            return
        isk = ks.isk_s3(self.n_s, self.srk_frame[4:16], k, y_s, self.req,
                        self.srk_frame[48:80], self.srk_frame)
        prk = ks.prk_s3(self.th2, isk)
        kp = ks.kp(prk, 3, self.th2)
        if not crypto.ct_equal(ks.proof_t(kp, fr.raw[:83]), fr.data("t")):
            raise _Fail(Code.WRONG_CODE, "t", "t does not verify under KP (ISK)")
        spv, psu = ks.spv(prk, 3, self.th2), ks.psu(prk, self.th2)
        self.inter.update(k=k.hex(), isk=isk.hex(), prk=prk.hex(), kp=kp.hex(), spv=spv.hex(),
                          psu=psu.hex())
        if crypto.x25519_low_order(e_pub):
            raise _Fail(Code.AUTH_FAILED, "e_pub", "e_pub of low order: DH is all zeros")
        dh = self._dh(e_pub)
        if dh is None:
            self._unverified("PROOF c, MS, KEY, protected frames (suite 3 needs DH too: give "
                             "e_priv or srk_priv)")
            return
        prk3 = ks.prk3(self.th2, dh, psu)
        pad = ks.pad(prk3, 3)
        if not crypto.ct_equal(ks.xor(spv, pad), fr.data("c")):
            raise _Fail(Code.BAD_PROOF, "c", "c XOR pad is not SPV")
        self.ms = ks.ms(prk3, 3, th3)
        self.chain = [self.ms]
        self.inter.update(dh=dh.hex(), prk3=prk3.hex(), pad=pad.hex(), ms=self.ms.hex())

    def _dh(self, e_pub: bytes) -> bytes | None:
        """DH from whichever private key was given, or None."""
        if self.e_priv is not None:
            if crypto.x25519_base(self.e_priv) != e_pub:
                self._unverified("e_priv given is not the key of this e_pub: not used")
                self.e_priv = None
            else:
                return crypto.x25519(self.e_priv, self.srk_pub)
        if self.srk_priv is not None:
            return crypto.x25519(self.srk_priv, e_pub)
        return None

    def _proof(self, fr: wire.Frame) -> None:
        if self.proof is not None:
            self._repeat(fr.raw, self.proof, ks.DIR_S2F in self.protected_from,
                         "PROOF after S sent protected frames")
            return
        if fr.suite != self.suite:
            raise _Fail(Code.MALFORMED, "length", "a suite-%d PROOF in a suite-%d session"
                        % (fr.suite, self.suite))
        n = len(fr.raw)
        x: bytes | None = None
        if self.suite == 3:
            th3 = ks.th3(self.th2, fr.raw)
            self._proof3(fr, th3)
            self.inter.update(c=fr.data("c").hex(), t=fr.data("t").hex(), th3=th3.hex())
            self.proof = fr.raw
            return
        if self.suite >= 2:
            e_pub = fr.data("e_pub")
            if crypto.x25519_low_order(e_pub):
                raise _Fail(Code.AUTH_FAILED, "e_pub", "e_pub of low order: DH is all zeros")
        if self.prk:
            kp = ks.kp(self.prk, self.suite, self.th2)
            if not crypto.ct_equal(ks.proof_t(kp, fr.raw[:n - ks.T_LEN]), fr.data("t")):
                raise _Fail(Code.AUTH_FAILED, "t", "t does not verify under KP")
            x = self.srk if self.suite == 1 else self._dh(fr.data("e_pub"))
        if self.suite >= 2:
            self.inter["e_pub"] = fr.data("e_pub").hex()
        th3 = ks.th3(self.th2, fr.raw)
        if x is None or self.pairing is None:
            if self.pairing is not None and self.suite != 3:
                self._unverified("PROOF c, MS, KEY, protected frames "
                                 "(suite 2 needs DH: give e_priv or srk_priv)")
        else:
            prk3 = ks.prk3(self.th2, x, self.pairing.ps)
            pad = ks.pad(prk3, self.suite)
            spv = ks.spv(self.prk, self.suite, self.th2)
            if not crypto.ct_equal(ks.xor(spv, pad), fr.data("c")):
                raise _Fail(Code.BAD_PROOF, "c", "c XOR pad is not SPV")
            self.ms = ks.ms(prk3, self.suite, th3)
            self.chain = [self.ms]
            if self.suite == 2:
                self.inter["dh"] = x.hex()
            self.inter.update(prk3=prk3.hex(), pad=pad.hex(), ms=self.ms.hex())
        self.inter.update(c=fr.data("c").hex(), t=fr.data("t").hex(), th3=th3.hex())
        self.proof = fr.raw

    def _ck(self, j: int) -> bytes:
        """CK_j of the session's chain (CK_0 = MS)."""
        while len(self.chain) <= j:
            i = len(self.chain)
            self.chain.append(ks.chain(self.chain[-1], self.suite, i))
            self.inter["ck_%d" % i] = self.chain[-1].hex()
        return self.chain[j]

    def _key(self, fr: wire.Frame) -> None:
        if self.proof is None:
            raise _Fail(Code.UNEXPECTED, "type", "KEY before PROOF")
        if self.key_frame is not None:
            self._repeat(fr.raw, self.key_frame, False, "")
            return
        if self.ms:
            kek0 = ks.kek(self.ms, self.suite, 0)
            idrk = crypto.kw_unwrap(kek0, fr.data("wrapped_idrk"))
            if idrk is None:
                raise _Fail(Code.AUTH_FAILED, "wrapped_idrk", "IDRK_0 unwrap failed")
            self.keys[0] = idrk
            self.inter.update(kek_0=kek0.hex(), idrk_0=idrk.hex())
            self._ck(1)
        self.key_frame = fr.raw

    def _protected(self, d: int, fr: wire.Frame) -> None:
        if self.key_frame is None:
            raise _Fail(Code.UNEXPECTED, "type", "protected frame before KEY")
        kidx = fr.num("kidx")
        if d == ks.DIR_F2S:
            # F moves to j+1 only once S has used j+1.
            if not (kidx == self.f_send or (kidx == self.f_send + 1 and self.s_send >= kidx)):
                raise _Fail(Code.BAD_KEY_INDEX, "kidx", "F sends under %d" % self.f_send)
        elif not (kidx == self.s_send or (kidx == self.s_send + 1 and kidx in self.announced)):
            raise _Fail(Code.BAD_KEY_INDEX, "kidx", "S sends under %d" % self.s_send)
        pt = b""
        new_key: bytes | None = None
        if self.ms:
            key = self.keys.get(kidx)
            opened = ks.open_frame(key, self.sid, d, fr.raw) if key is not None else None
            if opened is None:
                raise _Fail(Code.AUTH_FAILED, "tag", "tag under IDRK_%d" % kidx)
            pt = opened
        seq = fr.num("seq")
        if seq <= self.last_seq.get((d, kidx), -1):
            raise _Fail(Code.REPLAY, "seq", "seq %d not above the last one" % seq)
        if fr.type == wire.REKEY and self.ms:
            if pt[0] != kidx + 1:
                raise _Fail(Code.MALFORMED, "ciphertext",
                            "REKEY announces %d under %d" % (pt[0], kidx))
            n = kidx + 1
            kek = ks.kek(self._ck(n), self.suite, n)
            new_key = crypto.kw_unwrap(kek, pt[1:])
            if new_key is None:
                raise _Fail(Code.AUTH_FAILED, "ciphertext", "IDRK_%d unwrap failed" % n)
            if n in self.keys and self.keys[n] != new_key:
                raise _Fail(Code.MALFORMED, "ciphertext", "REKEY repeated with another IDRK")
            self._ck(n + 1)
            self.inter["kek_%d" % n] = kek.hex()
            self.inter["idrk_%d" % n] = new_key.hex()

        if d == ks.DIR_F2S:
            self.f_send = kidx
        else:
            self.s_send = kidx
        self.last_seq[(d, kidx)] = seq
        self.protected_from.add(d)
        if fr.type == wire.REKEY:
            self.announced.add(kidx + 1)
            if new_key is not None:
                self.keys[kidx + 1] = new_key
        elif fr.type == wire.CLOSE:
            if self.closed_by:
                self.closed_both = True  # the two CLOSEs crossed
            else:
                self.closed_by = d


def _direction(d: int | str) -> int:
    try:
        return _DIRS[d]
    except KeyError:
        raise ValueError("direction must be 1/'F2S' or 2/'S2F', not %r" % (d,)) from None


def frame_name(raw: bytes) -> str:
    return wire.TYPE_NAMES.get(wire.frame_type(raw), "?") if raw else "?"


def validate(frames: Iterable[tuple[int | str, bytes]], pairing: Pairing | None = None,
             *, max_payload: int = 256, e_priv: bytes | None = None,
             srk_priv: bytes | None = None, suites: Iterable[int] | None = None,
             y_s: bytes | None = None, y_f: bytes | None = None) -> Report:
    """Check one session's frames. ``e_priv`` / ``srk_priv`` only matter in
    suites 2 and 3, ``y_s`` / ``y_f`` (CPace scalars) in suite 3; ``suites``
    are F's accepted suites if known (default: all)."""
    chk = _Checker(pairing, max_payload, e_priv, srk_priv,
                   wire.IMPLEMENTED_SUITES if suites is None else suites, y_s, y_f)
    checks = [chk.frame_check(i, _direction(d), bytes(raw)) for i, (d, raw) in enumerate(frames)]
    if pairing is None:
        chk._unverified("everything keyed (needs PS)")
    return Report(checks, dict(chk.inter), list(chk.unverified))


Capture = list[tuple[int | str, bytes]]


def is_req(raw: bytes) -> bool:
    return len(raw) >= 1 and raw[0] == wire.byte0(wire.REQ)


def split_sessions(frames: Sequence[tuple[int | str, bytes]]) -> list[Capture]:
    """Cut a capture at each REQ that differs from the current session's REQ."""
    groups: list[Capture] = [[]]
    current: bytes | None = None
    for d, raw in frames:
        raw = bytes(raw)
        if is_req(raw) and raw != current:
            if current is not None or groups[-1]:
                groups.append([])
            current = raw
        groups[-1].append((d, raw))
    return [g for g in groups if g]
