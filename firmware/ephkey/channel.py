"""Protected frames (spec 3.7, version 2): DATA, REKEY, KEY_ACK, CLOSE.

Header: byte 0 (ver, type), u16 sid, kidx, u32 seq: 8 bytes, all of them
the CCM AAD; nonce u32(sid) | dir | kidx | 00 00 00 | u32(seq). Both roles
build and open frames here, through a CcmEngine whose buffers were allocated
at start-up, so a frame in the steady state allocates nothing:

    seal(engine, ck, nonce, out, ftype, sid, direction, kidx, seq, pt, pt_len)
        writes the whole frame (8-byte header, ciphertext of pt[0:pt_len],
        8-byte tag) into out and returns its length;
    open_(engine, ck, nonce, buf, n, sid, direction, kidx, seq, pt_out)
        checks the frame buf[0:n] and returns the plaintext length, with the
        plaintext in pt_out, or -1 (pt_out zeroed).

The header and the nonce are written by one helper (mac.frame_head, viper
where it loads), then the CCM pass is one engine call (crypto.CcmEngine's
plain CCM: its nonce and AAD given). ``nonce`` is a 13-byte scratch of the
caller's, or None for the engine's own.
"""

from micropython import const

from . import mac

_HDR = const(8)  # wire.PROT_HDR
_TAG = const(8)


def seal(engine, ck, nonce, out, ftype, sid, direction, kidx, seq, pt, pt_len):
    """Write a whole protected frame into ``out``; return its length."""
    if nonce is None:
        nonce = engine._nonce
    mac.frame_head(out, nonce, 0x20 | ftype, sid, direction, kidx, seq)
    return engine.seal(ck, nonce, out, _HDR, pt, pt_len, _TAG)


def open_(engine, ck, nonce, buf, n, sid, direction, kidx, seq, pt_out):
    """Check the tag of a protected frame; plaintext length, or -1."""
    if nonce is None:
        nonce = engine._nonce
    mac.frame_head(None, nonce, 0, sid, direction, kidx, seq)
    return engine.open(ck, nonce, buf, _HDR, n, pt_out, _TAG)
