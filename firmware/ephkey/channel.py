"""Protected frames (spec 3.7): DATA, REKEY, KEY_ACK, CLOSE.

Both roles build and open them here, through a CcmEngine whose buffers were
allocated at start-up, so a frame in the steady state allocates nothing.

    seal(engine, ck, nonce, out, ftype, suite, sid, direction, kidx, seq, pt, pt_len)
        writes the whole frame (12-byte header, ciphertext of pt[0:pt_len],
        8-byte tag) into out and returns its length;
    open_(engine, ck, nonce, buf, n, sid, direction, kidx, seq, pt_out)
        checks the frame buf[0:n] and returns the plaintext length, with the
        plaintext in pt_out, or -1 (pt_out zeroed).

Each is one call into crypto (viper: _ccm.py), which builds the nonce
sid | dir | kidx | 00 00 00 | seq from the fields; ``nonce`` is not used.
"""

from .crypto import open_frame as open_, seal_frame as seal

__all__ = ("open_", "seal")
