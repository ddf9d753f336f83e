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

They serve CcmEngine.seal/open, through which ephkey.channel makes every
protected frame (version 2: the header and nonce written by mac.frame_head):
``nonce`` is the 13-byte nonce, the AAD is buf[0:aad_len].

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
slicing per frame would allocate. _ccm_py.py has a pure-Python twin of both
functions, which crypto.py uses when this module cannot be imported.
"""

import micropython


@micropython.viper
def seal(engine, ck, nonce, buf, aad_len: int, tag_len: int, pt, n: int) -> int:
    """Encrypt pt[0:n] into buf after the AAD buf[0:aad_len] and append the
    tag; return aad_len + n + tag_len. pt may be buf[aad_len:]."""
    s = ptr32(engine._s)
    ecb = ck.ecb
    if aad_len < 0 or aad_len > s[1] or int(len(nonce)) != 13:
        raise ValueError("ccm parameters")
    if not ecb or n < 0 or n > s[0] or tag_len < 4 or tag_len > 16 or (tag_len & 1):
        raise ValueError("ccm parameters")
    if int(len(buf)) < aad_len + n + tag_len or int(len(pt)) < n:
        raise ValueError("buffer too small")
    buf[0] = buf[0]  # viper writes through any buffer: refuse read-only ones here
    b = ptr8(buf)
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
def open(engine, ck, nonce, buf, frame_len: int, aad_len: int, tag_len: int, out) -> int:
    """Check buf[0:frame_len] (AAD buf[0:aad_len], ciphertext, tag); return
    the plaintext length n with the plaintext in out[0:n], or -1 with out[0:n]
    zeroed. out may be buf[aad_len:]."""
    s = ptr32(engine._s)
    ecb = ck.ecb
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
