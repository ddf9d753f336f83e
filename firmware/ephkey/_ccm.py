"""One CCM frame per call, in viper: the data path of crypto.CcmEngine.

``seal`` and ``open`` each do a whole RFC 3610 pass with 13-byte nonces
(L = 2) in one call, the two native AES calls included:
- the counter blocks A_0 .. A_m are written (four words per block) and
  encrypted in place by one ``ecb.encrypt``: the keystream;
- B0 (XORed with the key's CBC chain value, see CcmKey), the AAD blocks and
  the padded payload go into the MAC input, which one ``cbc.encrypt``
  encrypts in place: its last block is the CBC-MAC T, and the key's next
  chain value.
The payload is read once: seal copies it into the MAC input and writes the
ciphertext in the same pass; open decrypts into the MAC input only, checks
the tag, and then decrypts again into the caller's buffer, so that buffer
receives plaintext only once the tag is right. Afterwards the MAC input holds
CBC output, not plaintext.

The two functions have the signatures of ephkey.channel's ``seal`` and
``open_``, which are these functions: a protected frame (spec 3.7) costs one
call from the station. The nonce sid | dir | kidx | 00 00 00 | seq is built
here from the fields (the ``nonce`` argument is not used then), and ``seal``
writes the 12-byte header, the AAD. CcmEngine.seal/open make plain CCM calls
through the same code: ``ftype`` < 0 (``direction`` < 0 for open) marks them,
and then ``nonce`` is the 13-byte nonce and two of the fields carry the AAD
and tag lengths (see each function).

Words where they can be: the engine's scratch is word aligned, so counter
blocks, B0 and the MAC blocks are written as words; payload passes move 16
bytes a turn as words, through pointers that advance (constant offsets are
what viper compiles best), when the caller's buffers are word aligned too,
and bytes otherwise, because the Cortex-M0+ faults on an unaligned word
access. Word order is little-endian, as on every port here. Words loaded
from memory are only XORed and stored, never shifted or compared, so the
32-bit ports (where a word may load as a negative int) and the 64-bit unix
port write the same bytes.

Viper does no bounds checks: every length is checked here before the first
write (ValueError), and a read-only output is refused (TypeError). The
engine's scratch ``engine._s`` starts with four words (largest payload,
largest AAD, offset of the MAC input, index of its first view), then the
counter blocks, then the MAC input; ``engine._views`` holds exact-length
views of it (counter blocks first, then MAC input), made once, because
slicing per frame would allocate. crypto.py has a pure-Python twin of both
functions, used when this module cannot be imported.
"""

import micropython


@micropython.viper
def seal(engine, ck, nonce, buf, ftype: int, suite: int, sid: int, direction: int, kidx: int,
         seq: int, pt, n: int) -> int:
    """Seal pt[0:n] into the protected frame buf (header, ciphertext, 8-byte tag);
    return its length 12 + n + 8. With ftype < 0, a plain CCM call instead:
    nonce given, AAD = buf[0:suite], tag of sid bytes. pt may be buf[aad_len:]."""
    s = ptr32(engine._s)
    ecb = ck.ecb
    aad_len = 12  # wire.PROT_HDR
    tag_len = 8  # channel's tag
    if ftype < 0:
        aad_len = suite
        tag_len = sid
        if aad_len < 0 or aad_len > s[1] or int(len(nonce)) != 13:
            raise ValueError("ccm parameters")
    if not ecb or n < 0 or n > s[0] or tag_len < 4 or tag_len > 16 or (tag_len & 1):
        raise ValueError("ccm parameters")
    if int(len(buf)) < aad_len + n + tag_len or int(len(pt)) < n:
        raise ValueError("buffer too small")
    buf[0] = buf[0]  # viper writes through any buffer: refuse read-only ones here
    b = ptr8(buf)
    if ftype >= 0:  # the header, and the nonce sid | dir | kidx | 00 00 00 | seq
        b[0] = 1  # wire.VERSION
        b[1] = ftype
        b[2] = suite
        b[3] = sid >> 24
        b[4] = (sid >> 16) & 255
        b[5] = (sid >> 8) & 255
        b[6] = sid & 255
        b[7] = kidx
        b[8] = seq >> 24
        b[9] = (seq >> 16) & 255
        b[10] = (seq >> 8) & 255
        b[11] = seq & 255
        w0 = 1 | (b[3] << 8) | (b[4] << 16) | (b[5] << 24)
        w1 = b[6] | (direction << 8) | (kidx << 16)
        w2 = (b[8] << 16) | (b[9] << 24)
        w3 = b[10] | (b[11] << 8)
    else:
        no = ptr8(nonce)
        w0 = 1 | (no[0] << 8) | (no[1] << 16) | (no[2] << 24)
        w1 = no[3] | (no[4] << 8) | (no[5] << 16) | (no[6] << 24)
        w2 = no[7] | (no[8] << 8) | (no[9] << 16) | (no[10] << 24)
        w3 = no[11] | (no[12] << 8)
    # A_i = flags (L - 1 = 1) | nonce | i (2 bytes BE): w0 .. w3 | i
    blocks = (n + 15) >> 4
    a = ptr32(int(s) + 16)
    i = 0
    while i <= blocks:
        a[0] = w0
        a[1] = w1
        a[2] = w2
        a[3] = w3 | ((i >> 8) << 16) | ((i & 255) << 24)
        a = ptr32(int(a) + 16)
        i += 1
    views = engine._views
    v = views[blocks + 1]
    ecb.encrypt(v, v)
    # B0 ^ chain: the CBC object starts from the chain value, not from 0
    mi = ptr32(int(s) + s[2])
    chain = ptr32(ck.chain)
    flags = ((tag_len - 2) << 2) | 1
    if aad_len:
        flags |= 0x40
    mi[0] = (w0 ^ 1 ^ flags) ^ chain[0]
    mi[1] = w1 ^ chain[1]
    mi[2] = w2 ^ chain[2]
    mi[3] = (w3 | ((n >> 8) << 16) | ((n & 255) << 24)) ^ chain[3]
    m8 = ptr8(mi)
    p = 16
    if aad_len:
        m8[16] = aad_len >> 8
        m8[17] = aad_len & 255
        for j in range(aad_len):
            m8[18 + j] = b[j]
        p = (18 + aad_len + 15) & 0xFFFFF0
        for j in range(18 + aad_len, p):
            m8[j] = 0
    # payload: into the MAC input and, XORed with the keystream, into buf
    src = ptr8(pt)
    ks = ptr8(int(s) + 32)
    i = 0
    if ((int(src) | (int(b) + aad_len)) & 3) == 0:
        wm = ptr32(int(mi) + p)
        wk = ptr32(ks)
        wp = ptr32(src)
        wb = ptr32(int(b) + aad_len)
        k = n >> 4
        while k > 0:
            x = wp[0]
            wm[0] = x
            wb[0] = x ^ wk[0]
            x = wp[1]
            wm[1] = x
            wb[1] = x ^ wk[1]
            x = wp[2]
            wm[2] = x
            wb[2] = x ^ wk[2]
            x = wp[3]
            wm[3] = x
            wb[3] = x ^ wk[3]
            wm = ptr32(int(wm) + 16)
            wk = ptr32(int(wk) + 16)
            wp = ptr32(int(wp) + 16)
            wb = ptr32(int(wb) + 16)
            k -= 1
        i = n & 0xFFFFF0
    q = p + i
    c = aad_len + i
    while i < n:
        x = src[i]
        m8[q] = x
        b[c] = x ^ ks[i]
        q += 1
        c += 1
        i += 1
    end = (p + n + 15) & 0xFFFFF0
    while q < end:
        m8[q] = 0
        q += 1
    v = views[s[3] + (end >> 4)]
    ck.cbc.encrypt(v, v)
    # T = the last CBC block: the next chain value; tag = T ^ keystream block 0
    t = ptr32(int(mi) + end - 16)
    chain[0] = t[0]
    chain[1] = t[1]
    chain[2] = t[2]
    chain[3] = t[3]
    t8 = ptr8(t)
    k0 = ptr8(int(s) + 16)
    c = aad_len + n
    for j in range(tag_len):
        b[c + j] = t8[j] ^ k0[j]
    return c + tag_len


@micropython.viper
def open(engine, ck, nonce, buf, frame_len: int, sid: int, direction: int, kidx: int, seq: int,
         out) -> int:
    """Check the protected frame buf[0:frame_len] (header, ciphertext, 8-byte
    tag); return the plaintext length n with the plaintext in out[0:n], or -1
    with out[0:n] zeroed. With direction < 0, a plain CCM call instead: nonce
    given, AAD = buf[0:sid], tag of kidx bytes. out may be buf[aad_len:]."""
    s = ptr32(engine._s)
    ecb = ck.ecb
    aad_len = 12  # wire.PROT_HDR
    tag_len = 8  # channel's tag
    if direction < 0:
        aad_len = sid
        tag_len = kidx
        if aad_len < 0 or aad_len > s[1] or int(len(nonce)) != 13:
            raise ValueError("ccm parameters")
    n = frame_len - aad_len - tag_len
    if not ecb or n < 0 or n > s[0] or tag_len < 4 or tag_len > 16 or (tag_len & 1):
        raise ValueError("ccm parameters")
    if int(len(buf)) < frame_len or int(len(out)) < n:
        raise ValueError("buffer too small")
    if n:
        out[0] = out[0]  # refuse a read-only output before writing to it
    b = ptr8(buf)
    if direction >= 0:  # the nonce sid | dir | kidx | 00 00 00 | seq
        w0 = 1 | ((sid >> 24) << 8) | (((sid >> 16) & 255) << 16) | (((sid >> 8) & 255) << 24)
        w1 = (sid & 255) | (direction << 8) | (kidx << 16)
        w2 = ((seq >> 24) << 16) | (((seq >> 16) & 255) << 24)
        w3 = ((seq >> 8) & 255) | ((seq & 255) << 8)
    else:
        no = ptr8(nonce)
        w0 = 1 | (no[0] << 8) | (no[1] << 16) | (no[2] << 24)
        w1 = no[3] | (no[4] << 8) | (no[5] << 16) | (no[6] << 24)
        w2 = no[7] | (no[8] << 8) | (no[9] << 16) | (no[10] << 24)
        w3 = no[11] | (no[12] << 8)
    blocks = (n + 15) >> 4
    a = ptr32(int(s) + 16)
    i = 0
    while i <= blocks:
        a[0] = w0
        a[1] = w1
        a[2] = w2
        a[3] = w3 | ((i >> 8) << 16) | ((i & 255) << 24)
        a = ptr32(int(a) + 16)
        i += 1
    views = engine._views
    v = views[blocks + 1]
    ecb.encrypt(v, v)
    mi = ptr32(int(s) + s[2])
    chain = ptr32(ck.chain)
    flags = ((tag_len - 2) << 2) | 1
    if aad_len:
        flags |= 0x40
    mi[0] = (w0 ^ 1 ^ flags) ^ chain[0]
    mi[1] = w1 ^ chain[1]
    mi[2] = w2 ^ chain[2]
    mi[3] = (w3 | ((n >> 8) << 16) | ((n & 255) << 24)) ^ chain[3]
    m8 = ptr8(mi)
    p = 16
    if aad_len:
        m8[16] = aad_len >> 8
        m8[17] = aad_len & 255
        for j in range(aad_len):
            m8[18 + j] = b[j]
        p = (18 + aad_len + 15) & 0xFFFFF0
        for j in range(18 + aad_len, p):
            m8[j] = 0
    # payload: decrypted into the MAC input only
    ks = ptr8(int(s) + 32)
    aligned = ((int(b) + aad_len) & 3) == 0
    i = 0
    if aligned:
        wm = ptr32(int(mi) + p)
        wk = ptr32(ks)
        wb = ptr32(int(b) + aad_len)
        k = n >> 4
        while k > 0:
            wm[0] = wb[0] ^ wk[0]
            wm[1] = wb[1] ^ wk[1]
            wm[2] = wb[2] ^ wk[2]
            wm[3] = wb[3] ^ wk[3]
            wm = ptr32(int(wm) + 16)
            wk = ptr32(int(wk) + 16)
            wb = ptr32(int(wb) + 16)
            k -= 1
        i = n & 0xFFFFF0
    q = p + i
    c = aad_len + i
    while i < n:
        m8[q] = b[c] ^ ks[i]
        q += 1
        c += 1
        i += 1
    end = (p + n + 15) & 0xFFFFF0
    while q < end:
        m8[q] = 0
        q += 1
    v = views[s[3] + (end >> 4)]
    ck.cbc.encrypt(v, v)
    t = ptr32(int(mi) + end - 16)
    chain[0] = t[0]
    chain[1] = t[1]
    chain[2] = t[2]
    chain[3] = t[3]
    t8 = ptr8(t)
    k0 = ptr8(int(s) + 16)
    c = aad_len + n
    diff = 0
    for j in range(tag_len):
        diff |= b[c + j] ^ t8[j] ^ k0[j]
    dst = ptr8(out)
    if diff:
        for i in range(n):
            dst[i] = 0
        return -1
    # the tag is right: decrypt again, into out
    i = 0
    if aligned and (int(dst) & 3) == 0:
        wo = ptr32(dst)
        wk = ptr32(ks)
        wb = ptr32(int(b) + aad_len)
        k = n >> 4
        while k > 0:
            wo[0] = wb[0] ^ wk[0]
            wo[1] = wb[1] ^ wk[1]
            wo[2] = wb[2] ^ wk[2]
            wo[3] = wb[3] ^ wk[3]
            wo = ptr32(int(wo) + 16)
            wk = ptr32(int(wk) + 16)
            wb = ptr32(int(wb) + 16)
            k -= 1
        i = n & 0xFFFFF0
    c = aad_len + i
    while i < n:
        dst[i] = b[c] ^ ks[i]
        c += 1
        i += 1
    return n
