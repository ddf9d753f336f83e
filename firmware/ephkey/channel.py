"""Protected frames (spec 3.7): DATA, REKEY, KEY_ACK, CLOSE.

Header: byte 0 (ver, type), u16 sid, kidx, u32 seq: 8 bytes, all of them the
CCM AAD. Both roles build and open them here, through a CcmEngine whose
buffers were allocated at start-up, so a frame in the steady state allocates
nothing.
"""

from micropython import const

from . import wire

_TAG = const(8)


def seal(engine, ck, nonce, out, ftype, sid, direction, kidx, seq, pt, pt_len):
    """Write a whole protected frame into ``out``; return its length."""
    wire.put_header(out, ftype, sid)
    out[wire.OFF_KIDX] = kidx
    wire.put_u32(out, wire.OFF_SEQ, seq)
    wire.put_nonce(nonce, sid, direction, kidx, seq)
    return engine.seal(ck, nonce, out, wire.PROT_HDR, pt, pt_len, _TAG)


def open_(engine, ck, nonce, buf, n, sid, direction, kidx, seq, pt_out):
    """Check the tag of a protected frame; plaintext length, or -1."""
    wire.put_nonce(nonce, sid, direction, kidx, seq)
    return engine.open(ck, nonce, buf, wire.PROT_HDR, n, pt_out, _TAG)
