"""SHA-512 compression (FIPS 180-4 section 6.4.2) in viper, on 32-bit halves.

A 64-bit word is two viper ``uint`` machine words (high and low half), so no
Python int is ever made: on a 32-bit port an int of 2**30 or more is a heap
big int, and plain-Python SHA-512 would allocate at every operation. A 64-bit
sum is formed from 16-bit pieces (low halves summed in two 16-bit columns,
the carry out of the low half added to the high half): no comparison, no
branch, the same instructions whatever the data.

Buffers:
- ``st``: the chaining value H0..H7, 64 bytes big-endian (the digest layout);
- ``blk``: message bytes, ``nblocks`` blocks of 128 from offset ``off``;
- ``w``: 640 bytes of scratch for the schedule W0..W79 (native-order words,
  high half first); it holds message-derived data: the caller wipes it;
- ``k``: the 80 round constants as native-order words (``fill_words``).

A ``uint`` is 64 bits on a 64-bit port: every value that a left shift or a
sum can push past bit 31 is masked with ``m`` (a no-op on 32-bit ports), and
ptr32 stores keep the low 32 bits. Viper does no bounds checks: sha512.py
checks every length and offset. sha512.py has a pure-Python twin and falls
back to it when this module cannot be imported.
"""

import micropython

TYPE_CHECKING = False
if TYPE_CHECKING:
    # For mypy only: the viper compiler knows ptr8/ptr32 as "pointer to the
    # bytes/32-bit words of any buffer".
    from circuitpython_typing import WriteableBuffer as ptr8, WriteableBuffer as ptr32


@micropython.viper
def fill_words(dst: ptr32, src: ptr8, n: int):
    """dst[i] = big-endian 32-bit word i of src, for i < n (native order in dst)."""
    p = 0
    for i in range(n):
        dst[i] = (uint(src[p]) << 24) | (uint(src[p + 1]) << 16) | (uint(src[p + 2]) << 8) | uint(
            src[p + 3]
        )
        p += 4


@micropython.viper
def compress(st: ptr8, blk: ptr8, off: int, nblocks: int, w: ptr32, k: ptr32):
    """Fold nblocks 128-byte blocks of blk (from off) into the state st."""
    m = (uint(0xFFFF) << 16) | uint(0xFFFF)
    lm = uint(0xFFFF)
    p = off
    for _ in range(nblocks):
        # W0..W15: the block as big-endian words, high half first.
        for t in range(32):
            w[t] = (uint(blk[p]) << 24) | (uint(blk[p + 1]) << 16) | (uint(blk[p + 2]) << 8) | uint(
                blk[p + 3]
            )
            p += 4
        # W16..W79 = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]; i = 2t.
        i = 32
        while i < 160:
            xh = uint(w[i - 30])
            xl = uint(w[i - 29])
            # s0 = rotr1 ^ rotr8 ^ shr7
            s0h = (((xh >> 1) | (xl << 31)) ^ ((xh >> 8) | (xl << 24)) ^ (xh >> 7)) & m
            s0l = (
                ((xl >> 1) | (xh << 31)) ^ ((xl >> 8) | (xh << 24))
                ^ ((xl >> 7) | (xh << 25))
            ) & m
            xh = uint(w[i - 4])
            xl = uint(w[i - 3])
            # s1 = rotr19 ^ rotr61 ^ shr6 (rotr61: halves swapped, then rotr29)
            s1h = (((xh >> 19) | (xl << 13)) ^ ((xl >> 29) | (xh << 3)) ^ (xh >> 6)) & m
            s1l = (
                ((xl >> 19) | (xh << 13)) ^ ((xh >> 29) | (xl << 3))
                ^ ((xl >> 6) | (xh << 26))
            ) & m
            al = uint(w[i - 13])
            bl = uint(w[i - 31])
            x = (s1l & lm) + (al & lm) + (s0l & lm) + (bl & lm)
            y = (s1l >> 16) + (al >> 16) + (s0l >> 16) + (bl >> 16) + (x >> 16)
            w[i + 1] = (y << 16) | (x & lm)
            w[i] = s1h + uint(w[i - 14]) + s0h + uint(w[i - 32]) + (y >> 16)
            i += 2

        ah = uint(st[0]) << 24 | uint(st[1]) << 16 | uint(st[2]) << 8 | uint(st[3])
        al = uint(st[4]) << 24 | uint(st[5]) << 16 | uint(st[6]) << 8 | uint(st[7])
        bh = uint(st[8]) << 24 | uint(st[9]) << 16 | uint(st[10]) << 8 | uint(st[11])
        bl = uint(st[12]) << 24 | uint(st[13]) << 16 | uint(st[14]) << 8 | uint(st[15])
        ch = uint(st[16]) << 24 | uint(st[17]) << 16 | uint(st[18]) << 8 | uint(st[19])
        cl = uint(st[20]) << 24 | uint(st[21]) << 16 | uint(st[22]) << 8 | uint(st[23])
        dh = uint(st[24]) << 24 | uint(st[25]) << 16 | uint(st[26]) << 8 | uint(st[27])
        dl = uint(st[28]) << 24 | uint(st[29]) << 16 | uint(st[30]) << 8 | uint(st[31])
        eh = uint(st[32]) << 24 | uint(st[33]) << 16 | uint(st[34]) << 8 | uint(st[35])
        el = uint(st[36]) << 24 | uint(st[37]) << 16 | uint(st[38]) << 8 | uint(st[39])
        fh = uint(st[40]) << 24 | uint(st[41]) << 16 | uint(st[42]) << 8 | uint(st[43])
        fl = uint(st[44]) << 24 | uint(st[45]) << 16 | uint(st[46]) << 8 | uint(st[47])
        gh = uint(st[48]) << 24 | uint(st[49]) << 16 | uint(st[50]) << 8 | uint(st[51])
        gl = uint(st[52]) << 24 | uint(st[53]) << 16 | uint(st[54]) << 8 | uint(st[55])
        hh = uint(st[56]) << 24 | uint(st[57]) << 16 | uint(st[58]) << 8 | uint(st[59])
        hl = uint(st[60]) << 24 | uint(st[61]) << 16 | uint(st[62]) << 8 | uint(st[63])

        i = 0
        while i < 160:
            # T1 = h + S1(e) + Ch(e, f, g) + K[t] + W[t]; S1 = rotr14 ^ rotr18 ^ rotr41
            s1h = (
                ((eh >> 14) | (el << 18)) ^ ((eh >> 18) | (el << 14))
                ^ ((el >> 9) | (eh << 23))
            ) & m
            s1l = (
                ((el >> 14) | (eh << 18)) ^ ((el >> 18) | (eh << 14))
                ^ ((eh >> 9) | (el << 23))
            ) & m
            chh = gh ^ (eh & (fh ^ gh))
            chl = gl ^ (el & (fl ^ gl))
            kl = uint(k[i + 1])
            wl = uint(w[i + 1])
            x = (hl & lm) + (s1l & lm) + (chl & lm) + (kl & lm) + (wl & lm)
            y = (hl >> 16) + (s1l >> 16) + (chl >> 16) + (kl >> 16) + (wl >> 16) + (x >> 16)
            t1l = ((y << 16) | (x & lm)) & m
            t1h = (hh + s1h + chh + uint(k[i]) + uint(w[i]) + (y >> 16)) & m
            # T2 = S0(a) + Maj(a, b, c); S0 = rotr28 ^ rotr34 ^ rotr39
            s0h = (
                ((ah >> 28) | (al << 4)) ^ ((al >> 2) | (ah << 30))
                ^ ((al >> 7) | (ah << 25))
            ) & m
            s0l = (
                ((al >> 28) | (ah << 4)) ^ ((ah >> 2) | (al << 30))
                ^ ((ah >> 7) | (al << 25))
            ) & m
            mjh = (ah & bh) | (ch & (ah | bh))
            mjl = (al & bl) | (cl & (al | bl))
            hh = gh
            hl = gl
            gh = fh
            gl = fl
            fh = eh
            fl = el
            # e = d + T1
            x = (dl & lm) + (t1l & lm)
            y = (dl >> 16) + (t1l >> 16) + (x >> 16)
            el = ((y << 16) | (x & lm)) & m
            eh = (dh + t1h + (y >> 16)) & m
            dh = ch
            dl = cl
            ch = bh
            cl = bl
            bh = ah
            bl = al
            # a = T1 + T2
            x = (t1l & lm) + (s0l & lm) + (mjl & lm)
            y = (t1l >> 16) + (s0l >> 16) + (mjl >> 16) + (x >> 16)
            al = ((y << 16) | (x & lm)) & m
            ah = (t1h + s0h + mjh + (y >> 16)) & m
            i += 2

        # H_j += (a, b, ..., h)_j, written back big-endian.
        for j in range(8):
            if j == 0:
                vh = ah
                vl = al
            elif j == 1:
                vh = bh
                vl = bl
            elif j == 2:
                vh = ch
                vl = cl
            elif j == 3:
                vh = dh
                vl = dl
            elif j == 4:
                vh = eh
                vl = el
            elif j == 5:
                vh = fh
                vl = fl
            elif j == 6:
                vh = gh
                vl = gl
            else:
                vh = hh
                vl = hl
            q = 8 * j
            oh = uint(st[q]) << 24 | uint(st[q + 1]) << 16 | uint(st[q + 2]) << 8 | uint(st[q + 3])
            ol = (
                uint(st[q + 4]) << 24 | uint(st[q + 5]) << 16 | uint(st[q + 6]) << 8
                | uint(st[q + 7])
            )
            x = (ol & lm) + (vl & lm)
            y = (ol >> 16) + (vl >> 16) + (x >> 16)
            nl = (y << 16) | (x & lm)
            nh = oh + vh + (y >> 16)
            st[q] = nh >> 24
            st[q + 1] = nh >> 16
            st[q + 2] = nh >> 8
            st[q + 3] = nh
            st[q + 4] = nl >> 24
            st[q + 5] = nl >> 16
            st[q + 6] = nl >> 8
            st[q + 7] = nl
