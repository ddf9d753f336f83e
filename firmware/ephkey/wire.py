"""Frame layout of docs/protocol.md section 3 (version 2), field by field.

Every frame starts with one byte, ``ver`` (high 4 bits) and ``type`` (low 4
bits); every type but REQ then carries a 16-bit sid. Offsets and lengths are
constants; integers are big-endian. Readers never build an int of 2**30 or
more (it would be a heap-allocated big int on a 32-bit port): a protected
frame's seq is checked byte-wise first.
"""

from micropython import const

VERSION = const(2)

# type (3.2)
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

# first bytes (3.1): ver << 4 | type
B_REQ = const(0x21)
B_SRK = const(0x22)
B_PROOF = const(0x23)
B_KEY = const(0x24)
B_ERROR = const(0x2F)

# header (3.1): byte 0, then u16 sid in every type but REQ
OFF_SID = const(1)
HDR = const(3)

# REQ (3.3)
OFF_ID_S = const(1)
OFF_N_S = const(9)
OFF_OFFER = const(21)
LEN_REQ = const(22)

# SRK (3.4, 3.9)
OFF_SUITE = const(3)
OFF_N_F = const(4)
OFF_WRAPPED_SRK = const(16)
LEN_SRK = const(40)
OFF_SRK_PUB = const(16)
OFF_AUTH = const(48)
LEN_SRK2 = const(64)
AUTH_LEN = const(16)
OFF_Y_F = const(48)  # suite 3 (15.10): Y_f, F's CPace share, where suite 2 has auth
LEN_SRK3 = const(80)
ADB_LEN = const(48)  # CPace's ADb: the suite-3 SRK frame before Y_f

# PROOF (3.5, 3.9): c = SPV XOR pad, t = HMAC(KP, frame[0:n-8])[0:8]
OFF_C = const(3)
LEN_PROOF = const(27)
OFF_E_PUB = const(3)
OFF_C2 = const(35)
LEN_PROOF2 = const(59)
# suite 3 (15.10): Y_s, e_pub, c, t
OFF_Y_S = const(3)
OFF_E_PUB3 = const(35)
OFF_C3 = const(67)
LEN_PROOF3 = const(91)
T_LEN = const(8)

# by suite (index 1 to 3): made once here, not as a tuple built per frame
LEN_SRK_OF = (0, LEN_SRK, LEN_SRK2, LEN_SRK3)
LEN_PROOF_OF = (0, LEN_PROOF, LEN_PROOF2, LEN_PROOF3)
OFF_C_OF = (0, OFF_C, OFF_C2, OFF_C3)

# KEY (3.6)
OFF_WRAPPED_IDRK = const(3)
LEN_KEY = const(27)

# protected frames (3.7)
OFF_KIDX = const(3)
OFF_SEQ = const(4)
PROT_HDR = const(8)
TAG = const(8)
LEN_REKEY = const(41)
LEN_KEY_ACK = const(16)
LEN_CLOSE = const(17)
REKEY_PT = const(25)

# ERROR (3.8)
OFF_CODE = const(3)
LEN_ERROR = const(4)

SUITE_1 = const(1)
SUITE_2 = const(2)
SUITE_3 = const(3)  # the user's secret through CPace (15.10)
ID_LEN = const(8)
NONCE_LEN = const(12)
KEY_LEN = const(16)
PUB_LEN = const(32)
WRAPPED_LEN = const(24)
SPV_LEN = const(16)
# The last seq, 2**30 - 1, is reserved for CLOSE(KEYS_EXHAUSTED) (3.7).
SEQ_LAST = const(0x3FFFFFFF)

DIR_F2S = const(1)
DIR_S2F = const(2)

MAX_HS = const(91)  # the longest handshake frame: suite 3's PROOF


def known_type(t):
    return 1 <= t <= 8 or t == ERROR


def has_sid(t):
    return t != REQ


def frame_len_ok(t, n, max_payload, suite=SUITE_1):
    """The lengths of 3.2; ``suite`` is an SRK frame's suite byte (1, 2 or 3)."""
    if t == REQ:
        return n == LEN_REQ
    if t == SRK:
        return n == (LEN_SRK2 if suite == SUITE_2 else LEN_SRK3 if suite == SUITE_3 else LEN_SRK)
    if t == PROOF:
        return n == LEN_PROOF or n == LEN_PROOF2 or n == LEN_PROOF3
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
    return (buf[1] << 8) | buf[2]


def event_sid(buf, n):
    """The sid an event reports for a frame (4.4 item 2): bytes 1-2 when the
    frame is version 2, its type has a sid and it holds one; else 0."""
    if n < 3 or buf[0] >> 4 != VERSION:
        return 0
    t = buf[0] & 15
    if not known_type(t) or t == REQ:
        return 0
    return (buf[1] << 8) | buf[2]


def seq_ok(buf):
    """A protected frame's seq is below 2**30."""
    return not buf[OFF_SEQ] & 0xC0


def seq_of(buf):
    """A protected frame's seq (check seq_ok first)."""
    return (buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]


def put_header(buf, ftype, sid):
    buf[0] = (VERSION << 4) | ftype
    buf[1] = sid >> 8
    buf[2] = sid & 0xFF
