"""Station settings, checked once at construction (docs/protocol.md 4.1, 11).

A bad value raises ValueError naming the parameter, so a board with a wrong
configuration stops at start-up instead of running outside the claims.
"""

SUITE_1 = 1
SUITE_2 = 2  # X25519 SRKs, forward secrecy (docs/protocol.md 3.9)
SUITE_3 = 3  # the user's secret through CPace (15.10): only with a user record
SUITES = (SUITE_1, SUITE_2, SUITE_3)
DEFAULT_SUITES = (SUITE_2, SUITE_1)  # suite 2 where the board can afford it
LIFETIME_LIMIT_MS = 90000  # claim 7: lifetime under about 90 s
M_LIMIT = 10  # claim 6: removal after M x lifetime, M <= 10


def _int(name, value, lo, hi=None):
    if not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        if hi is None:
            raise ValueError("%s must be an integer >= %d, got %r" % (name, lo, value))
        raise ValueError("%s must be an integer in %d..%d, got %r" % (name, lo, hi, value))
    return value


def _suites(name, suites):
    if not isinstance(suites, (tuple, list)):
        raise ValueError("%s must be a tuple of suites, got %r" % (name, suites))
    for s in suites:
        if s not in SUITES:
            raise ValueError("%s: unsupported suite %r (known: 1, 2, 3)" % (name, s))
    if not suites:
        raise ValueError("%s: at least one suite" % name)
    if len(set(suites)) != len(suites):
        raise ValueError("%s: suite listed twice in %r" % (name, suites))
    return tuple(suites)


class FirstConfig:
    """Settings of a first station; defaults are those of section 11."""

    def __init__(self, interval_ms=10000, lifetime_ms=20000, m=3, ring_slots=8,
                 sessions=8, idrks=4, rotate_frames=64, rotate_ms=600000,
                 rekey_retry_ms=1000, rekey_tries=4, idle_ms=300000,
                 max_payload=256, suites=DEFAULT_SUITES, confirm_ms=10000,
                 peer_sessions=1, proof_tries=3, out_queue=None):
        self.lifetime_ms = _int("lifetime_ms", lifetime_ms, 1, LIFETIME_LIMIT_MS - 1)
        self.m = _int("m", m, 1, M_LIMIT)
        self.interval_ms = _int("interval_ms", interval_ms, 1)
        if interval_ms + lifetime_ms > m * lifetime_ms:
            raise ValueError(
                "interval_ms + lifetime_ms must be <= m * lifetime_ms "
                "(a request at the end of an interval must finish before its SRK is erased)")
        need = -(-m * lifetime_ms // interval_ms) + 1
        self.ring_slots = _int("ring_slots", ring_slots, need, 255)
        self.sessions = _int("sessions", sessions, 1, 255)
        self.idrks = _int("idrks", idrks, 1, 255)
        self.rotate_frames = _int("rotate_frames", rotate_frames, 1)
        self.rotate_ms = _int("rotate_ms", rotate_ms, 1)
        self.rekey_retry_ms = _int("rekey_retry_ms", rekey_retry_ms, 1)
        self.rekey_tries = _int("rekey_tries", rekey_tries, 1)
        self.idle_ms = _int("idle_ms", idle_ms, 1)
        self.max_payload = _int("max_payload", max_payload, 0, 65000)
        self.suites = _suites("suites", suites)
        # 4.6: an unconfirmed session may be taken by a REQ from this age on
        if idle_ms < 2:
            raise ValueError("confirm_ms needs idle_ms >= 2 (confirm_ms < idle_ms)")
        self.confirm_ms = _int("confirm_ms", confirm_ms, 1, idle_ms - 1)
        self.peer_sessions = _int("peer_sessions", peer_sessions, 1, self.sessions)
        self.proof_tries = _int("proof_tries", proof_tries, 1, 255)
        if out_queue is None:
            out_queue = sessions + 4
        self.out_queue = _int("out_queue", out_queue, 1)


class SecondConfig:
    def __init__(self, retry_ms=1000, max_tries=5, max_payload=256, offer=DEFAULT_SUITES,
                 out_queue=4):
        self.retry_ms = _int("retry_ms", retry_ms, 1)
        self.max_tries = _int("max_tries", max_tries, 1)
        self.max_payload = _int("max_payload", max_payload, 0, 65000)
        self.offer = _suites("offer", offer)
        if SUITE_3 in self.offer and len(self.offer) != 1:
            # 15.10: S offers suite 3 alone, with a user record
            raise ValueError("offer: suite 3 is offered alone, not with %r" % (offer,))
        self.out_queue = _int("out_queue", out_queue, 1)


USER_MIN = 8  # a suite-3 user secret's length in bytes (15.10, 9.4)
USER_MAX = 64


def user_secret(secret):
    """The user's secret as CPace's PRS (15.10): 8 to 64 bytes (a str is
    UTF-8); ValueError otherwise."""
    raw = secret.encode() if isinstance(secret, str) else secret
    if not USER_MIN <= len(raw) <= USER_MAX:
        raise ValueError("a user secret is %d to %d bytes" % (USER_MIN, USER_MAX))
    return raw


class Pairing:
    """What a pair of stations shares (section 8): identities and PS, or, for
    suite 3 (15.10), a ``user`` record: at F the user's secret (bytes), at S
    True (the user gives the secret at ``connect``). ``ps`` is then empty."""

    def __init__(self, id_f, id_s, ps=None, user=None):
        if len(id_f) != 8 or len(id_s) != 8:
            raise ValueError("identities are 8 bytes")
        if (ps is None) == (user is None):
            raise ValueError("a pairing record has either ps or user")
        if ps is not None and not 16 <= len(ps) <= 32:
            raise ValueError("pairing secret must be 16 to 32 bytes")
        self.id_f = bytes(id_f)
        self.id_s = bytes(id_s)
        self.ps = bytearray(ps or b"")  # bytearray so it can be wiped
        # F: the secret, in a bytearray so it can be wiped; S: an empty one
        self.user = None if user is None else bytearray(
            b"" if user is True else user_secret(user))

    def wipe(self):
        for b in (self.ps, self.user):
            if b is not None:
                for i in range(len(b)):
                    b[i] = 0
