"""Frame layout of docs/protocol.md section 3, field by field.

Offsets and lengths are constants; integers are big-endian. Readers never
build an int of 2**30 or more (it would be a heap-allocated big int on a
32-bit port): fields that may not reach it are checked byte-wise first.
"""

from micropython import const

VERSION = const(1)

# type byte (3.2)
REQ = const(1)
SRK = const(2)
PROOF = const(3)
KEY = const(4)
DATA = const(5)
REKEY = const(6)
KEY_ACK = const(7)
CLOSE = const(8)
ERROR = const(15)
PROT_FIRST = const(5)  # DATA .. CLOSE are the protected frames (3.7)
PROT_LAST = const(8)

# header (3.1)
OFF_VER = const(0)
OFF_TYPE = const(1)
OFF_SUITE = const(2)
OFF_SID = const(3)
HDR = const(7)

# REQ (3.3)
OFF_ID_S = const(7)
OFF_N_S = const(15)
OFF_OFFER = const(31)
LEN_REQ = const(32)

# SRK (3.4)
OFF_N_F = const(7)
OFF_INTERVAL = const(23)
OFF_WRAPPED_SRK = const(25)
LEN_SRK = const(49)

# PROOF (3.5), KEY (3.6)
OFF_CT_TAG = const(7)
LEN_PROOF = const(31)
CT_TAG_LEN = const(24)  # SPV (16) || tag (8)
OFF_WRAPPED_IDRK = const(7)
LEN_KEY = const(31)

# suite 2 (3.9): SRK carries srk_pub and an HMAC, PROOF carries e_pub
SUITE_1 = const(1)
SUITE_2 = const(2)
OFF_SRK_PUB = const(25)
OFF_AUTH = const(57)
LEN_SRK2 = const(73)
OFF_E_PUB = const(7)
OFF_CT_TAG2 = const(39)
LEN_PROOF2 = const(63)
PUB_LEN = const(32)

# protected frames (3.7)
OFF_KIDX = const(7)
OFF_SEQ = const(8)
PROT_HDR = const(12)
TAG = const(8)
LEN_REKEY = const(45)
LEN_KEY_ACK = const(20)
LEN_CLOSE = const(21)
REKEY_PT = const(25)

# ERROR (3.8)
OFF_CODE = const(7)
LEN_ERROR = const(8)

ID_LEN = const(8)
NONCE_LEN = const(16)
KEY_LEN = const(16)
WRAPPED_LEN = const(24)
SEQ_LIMIT = const(0x40000000)

DIR_F2S = const(1)
DIR_S2F = const(2)


def known_type(t):
    return 1 <= t <= 8 or t == ERROR


def suite_known(suite):
    """SRK and PROOF take their length from their suite byte (4.4 item 2)."""
    return suite == SUITE_1 or suite == SUITE_2


def frame_len_ok(t, n, max_payload, suite=SUITE_1):
    """``suite`` (the header's, checked with suite_known first) matters for SRK, PROOF."""
    if t == REQ:
        return n == LEN_REQ
    if t == SRK:
        return n == (LEN_SRK2 if suite == SUITE_2 else LEN_SRK)
    if t == PROOF:
        return n == (LEN_PROOF2 if suite == SUITE_2 else LEN_PROOF)
    if t == KEY:
        return n == LEN_KEY
    if t == DATA:
        return PROT_HDR + TAG <= n <= PROT_HDR + TAG + max_payload
    if t == REKEY:
        return n == LEN_REKEY
    if t == KEY_ACK:
        return n == LEN_KEY_ACK
    if t == CLOSE:
        return n == LEN_CLOSE
    return n == LEN_ERROR


def sid_of(buf):
    """The header's sid, or -1 if its top two bits are set (never issued)."""
    if buf[OFF_SID] & 0xC0:
        return -1
    return (buf[3] << 24) | (buf[4] << 16) | (buf[5] << 8) | buf[6]


def sid_raw(buf):
    """The header's sid bytes as read, for reporting a rejected frame."""
    return (buf[3] << 24) | (buf[4] << 16) | (buf[5] << 8) | buf[6]


def seq_of(buf):
    """A protected frame's seq, or -1 if it is 2**30 or more."""
    if buf[OFF_SEQ] & 0xC0:
        return -1
    return (buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]


def put_u32(buf, off, v):
    buf[off] = (v >> 24) & 0xFF
    buf[off + 1] = (v >> 16) & 0xFF
    buf[off + 2] = (v >> 8) & 0xFF
    buf[off + 3] = v & 0xFF


def put_header(buf, ftype, suite, sid):
    buf[OFF_VER] = VERSION
    buf[OFF_TYPE] = ftype
    buf[OFF_SUITE] = suite
    put_u32(buf, OFF_SID, sid)


def put_nonce(nonce, sid, direction, kidx, seq):
    """nonce(sid, dir, kidx, seq) of 3.7: sid | dir | kidx | 00 00 00 | seq."""
    put_u32(nonce, 0, sid)
    nonce[4] = direction
    nonce[5] = kidx
    nonce[6] = 0
    nonce[7] = 0
    nonce[8] = 0
    put_u32(nonce, 9, seq)


def same(a, aoff, b, boff, n):
    """Byte equality of two public fields (identities, nonces)."""
    for i in range(n):
        if a[aoff + i] != b[boff + i]:
            return False
    return True


def zero(buf, off, n):
    for i in range(off, off + n):
        buf[i] = 0
