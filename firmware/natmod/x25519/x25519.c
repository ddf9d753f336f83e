// X25519 (RFC 7748) on 16 limbs of 16 bits: see x25519.h.
//
// Representation: a field element is 16 words, limb k holding bits 16k..16k+15,
// every limb < 2^16 between operations, so the value is < 2^256 (not
// necessarily < p). 2^256 = 38 (mod p): what carries out of the top limb is
// folded back into limb 0 times 38.
//
// Constant time: no branch and no memory index depends on the scalar, the
// point or any value computed from them. Branches and indexes depend only on
// loop counters and on the unit counter. The ladder's swap is a mask. The
// final reduction mod p is a masked select.
#include "x25519.h"

#define MASK16 0xffffu
#define NONE 0xff

// r + c * 2^256 with r's limbs < 2^16: add c at limb 0, propagate, and
// return what carries out of the top (arithmetic shifts: c may be negative).
static int32_t carry(fe r, int32_t c) {
    for (int k = 0; k < X25519_LIMBS; k++) {
        c += (int32_t)r[k];
        r[k] = (uint32_t)c & MASK16;
        c >>= 16;
    }
    return c;
}

// r + c * 2^256 -> the same value mod p with limbs < 2^16, for -1 <= c <= 1700.
// One pass adds 38 * c at limb 0. If it carries 1 out of the top, the value
// left is under 38 * c < 2^16 - 38, all in limb 0, which then takes 38 more
// without a carry; if it carries -1 out (c = -1 and the value was under 38),
// limb 0 is now at least 2^16 - 38 and takes -38. No third pass either way.
static void fold(fe r, int32_t c) {
    c = carry(r, 38 * c);
    r[0] += (uint32_t)(38 * c);
}

// A product of 32 limbs (t[31] < 2^16) -> r: the high half times 38 added in.
static void reduce(fe r, const uint32_t t[2 * X25519_LIMBS]) {
    uint32_t c = 0;
    for (int k = 0; k < X25519_LIMBS; k++) {
        c += t[k] + 38 * t[k + X25519_LIMBS]; // < 39 * 2^16 + 40
        r[k] = c & MASK16;
        c >>= 16;
    }
    fold(r, (int32_t)c); // c <= 39
}

// (lo, hi) += x * y for limbs x, y < 2^16: a 32-bit multiply, a 64-bit sum.
// On Thumb (armv6m, armv7m) written out: gcc's Thumb-1 code for a 64-bit
// sum spills and reloads; here it is MULS, ADDS, ADCS with `zero` a register
// holding 0. x is overwritten.
#if defined(__thumb__)
#define MAC(lo, hi, x, y, zero) \
    __asm__ ("muls %0, %3\n\tadds %1, %0\n\tadcs %2, %4" \
    : "+l" (x), "+l" (lo), "+l" (hi) : "l" (y), "l" (zero) : "cc")
#else
#define MAC(lo, hi, x, y, zero) do { \
        uint64_t s_ = ((uint64_t)(hi) << 32 | (lo)) + (uint32_t)((x) * (y)) + (zero); \
        (lo) = (uint32_t)s_; \
        (hi) = (uint32_t)(s_ >> 32); \
} while (0)
#endif

// Products column by column (k = i + j), each a 32-bit multiply of two limbs,
// summed in 64 bits: at most 16 * (2^16 - 1)^2 + carry < 2^36. Unrolled by
// the compiler (the loop bounds are constants once the outer loop is): 5
// instructions a product on armv6m, about half the ladder's time, 3 kB of
// the module's code. Squaring is this multiplication too: its own code would
// save about 10 % of the time for 2 kB more.
void fe_mul(fe r, const fe a, const fe b, uint32_t t[2 * X25519_LIMBS]) {
    uint32_t lo = 0, hi = 0, zero = 0;
    _Pragma("GCC unroll 31")
    for (int k = 0; k < 2 * X25519_LIMBS - 1; k++) {
        int i = k < X25519_LIMBS ? 0 : k - (X25519_LIMBS - 1);
        int n = (k < X25519_LIMBS ? k : X25519_LIMBS - 1) - i + 1;
        const uint32_t *ap = a + i;
        const uint32_t *bp = b + (k - i);
        _Pragma("GCC unroll 16")
        do {
            uint32_t x = *ap++;
            MAC(lo, hi, x, *bp, zero);
            bp--;
        } while (--n);
        t[k] = lo & MASK16;
        lo = lo >> 16 | hi << 16;
        hi >>= 16;
    }
    t[2 * X25519_LIMBS - 1] = lo;
    reduce(r, t);
}

void fe_add(fe r, const fe a, const fe b) {
    uint32_t c = 0;
    for (int k = 0; k < X25519_LIMBS; k++) {
        c += a[k] + b[k];
        r[k] = c & MASK16;
        c >>= 16;
    }
    fold(r, (int32_t)c); // c <= 1
}

void fe_sub(fe r, const fe a, const fe b) {
    int32_t c = 0;
    for (int k = 0; k < X25519_LIMBS; k++) {
        c += (int32_t)a[k] - (int32_t)b[k];
        r[k] = (uint32_t)c & MASK16;
        c >>= 16;
    }
    fold(r, c); // c is -1 or 0
}

// r = a + 121665 * b. 121665 * b_k passes 2^32, so it is split as
// 2^16 * b_k + 56129 * b_k and summed in 64 bits.
void fe_mul_a24_add(fe r, const fe a, const fe b) {
    uint64_t c = 0;
    for (int k = 0; k < X25519_LIMBS; k++) {
        c += a[k] + b[k] * 56129u + ((uint64_t)b[k] << 16);
        r[k] = (uint32_t)c & MASK16;
        c >>= 16;
    }
    // c < 121667: one pass brings the carry to 0 or 1, then fold
    fold(r, carry(r, 38 * (int32_t)c));
}

static void cswap(fe a, fe b, uint32_t bit) {
    uint32_t mask = 0u - bit;
    for (int k = 0; k < X25519_LIMBS; k++) {
        uint32_t d = mask & (a[k] ^ b[k]);
        a[k] ^= d;
        b[k] ^= d;
    }
}

// a (limbs < 2^16) -> its value mod p, little-endian, in out; a is changed,
// scratch is written.
static void freeze(uint8_t out[32], fe a, fe scratch) {
    // Twice: bit 255 (worth 19) folded into limb 0. The first leaves a value
    // under 2^255 + 19; if that has bit 255 set, the second leaves under 38.
    for (int pass = 0; pass < 2; pass++) {
        int32_t c = (int32_t)(a[X25519_LIMBS - 1] >> 15) * 19;
        a[X25519_LIMBS - 1] &= 0x7fff;
        carry(a, c); // no carry out: the value stays under 2^256
    }
    // a < 2^255 < 2p: a - p = a + 19 - 2^255 when a + 19 has bit 255 set.
    uint32_t c = 19;
    for (int k = 0; k < X25519_LIMBS; k++) {
        c += a[k];
        scratch[k] = c & MASK16;
        c >>= 16;
    }
    uint32_t mask = 0u - (scratch[X25519_LIMBS - 1] >> 15);
    scratch[X25519_LIMBS - 1] &= 0x7fff;
    for (int k = 0; k < X25519_LIMBS; k++) {
        uint32_t v = a[k] ^ (mask & (a[k] ^ scratch[k]));
        out[2 * k] = (uint8_t)v;
        out[2 * k + 1] = (uint8_t)(v >> 8);
    }
}

void fe_freeze(uint8_t out[32], const fe a) {
    fe t, u;
    for (int k = 0; k < X25519_LIMBS; k++) {
        t[k] = a[k];
    }
    freeze(out, t, u);
}

static void load(fe r, const uint8_t b[32]) {
    for (int k = 0; k < X25519_LIMBS; k++) {
        r[k] = b[2 * k] | (uint32_t)b[2 * k + 1] << 8;
    }
    r[X25519_LIMBS - 1] &= 0x7fff; // RFC 7748 section 5: the top bit of u is ignored
}

static void set_small(fe r, uint32_t v) {
    r[0] = v;
    for (int k = 1; k < X25519_LIMBS; k++) {
        r[k] = 0;
    }
}

// One step of the ladder of RFC 7748 section 5, for bit 254 - unit of the
// scalar, with the temporaries T0..T3:
//   A = x2 + z2, B = x2 - z2, C = x3 + z3, D = x3 - z3, DA = D * A, CB = C * B,
//   AA = A^2, BB = B^2, x3 = (DA + CB)^2, z3 = x1 * (DA - CB)^2,
//   x2 = AA * BB, E = AA - BB, z2 = E * (AA + a24 * E).
static void ladder_step(x25519_state *s) {
    fe *v = s->slot;
    uint32_t *t = s->prod;
    uint32_t bit_index = 254 - s->unit;
    uint32_t bit = (s->scalar[bit_index >> 3] >> (bit_index & 7)) & 1;
    uint32_t swap = s->swap ^ bit;
    cswap(v[X2], v[X3], swap);
    cswap(v[Z2], v[Z3], swap);
    s->swap = bit;
    fe_add(v[T0], v[X2], v[Z2]);     // A
    fe_sub(v[T1], v[X2], v[Z2]);     // B
    fe_add(v[T2], v[X3], v[Z3]);     // C
    fe_sub(v[T3], v[X3], v[Z3]);     // D
    fe_mul(v[T3], v[T3], v[T0], t);  // DA
    fe_mul(v[T2], v[T2], v[T1], t);  // CB
    fe_sqr(v[T0], v[T0], t);         // AA
    fe_sqr(v[T1], v[T1], t);         // BB
    fe_add(v[X3], v[T3], v[T2]);
    fe_sqr(v[X3], v[X3], t);         // x3 = (DA + CB)^2
    fe_sub(v[Z3], v[T3], v[T2]);
    fe_sqr(v[Z3], v[Z3], t);
    fe_mul(v[Z3], v[Z3], v[X1], t);  // z3 = x1 * (DA - CB)^2
    fe_mul(v[X2], v[T0], v[T1], t);  // x2 = AA * BB
    fe_sub(v[T1], v[T0], v[T1]);     // E
    fe_mul_a24_add(v[Z2], v[T0], v[T1]);
    fe_mul(v[Z2], v[Z2], v[T1], t);  // z2 = E * (AA + a24 * E)
    if (s->unit == X25519_LADDER_STEPS - 1) { // after the last step: the last swap
        cswap(v[X2], v[X3], s->swap);
        cswap(v[Z2], v[Z3], s->swap);
    }
}

// The inversion z2^(p - 2), p - 2 = 2^255 - 21, as operations
// dst = src^(2^n) * mul (mul NONE: no multiplication; dst is never mul when
// n > 0). It builds z^(2^k - 1) for k = 5, 10, 20, 40, 50, 100, 200, 250,
// then shifts in the low bits 01011 (= 11): 254 squarings, 11
// multiplications, then x2 * z2^(p - 2) into X3.
typedef struct {
    uint8_t dst, src, n, mul;
} inv_op;

static const inv_op INVERT[] = {
    {T0, Z2, 1, NONE},  // z^2
    {T1, T0, 2, Z2},    // z^9
    {T0, T1, 0, T0},    // z^11
    {T2, T0, 1, T1},    // z^31 = z^(2^5 - 1)
    {T3, T2, 5, T2},    // 2^10 - 1
    {T2, T3, 10, T3},   // 2^20 - 1
    {X1, T2, 20, T2},   // 2^40 - 1
    {T2, X1, 10, T3},   // 2^50 - 1
    {T3, T2, 50, T2},   // 2^100 - 1
    {X1, T3, 100, T3},  // 2^200 - 1
    {Z3, X1, 50, T2},   // 2^250 - 1
    {Z3, Z3, 5, T0},    // 2^255 - 21: 1 / z2
    {X3, X2, 0, Z3},    // x2 / z2
};
#define N_INVERT (sizeof(INVERT) / sizeof(INVERT[0]))

// A unit: up to X25519_SQR_PER_UNIT squarings of one operation, and its
// multiplication with the last of them.
static void invert_unit(x25519_state *s) {
    const inv_op *o = &INVERT[s->op];
    fe *v = s->slot;
    uint32_t n = o->n - s->squared;
    if (n > X25519_SQR_PER_UNIT) {
        n = X25519_SQR_PER_UNIT;
    }
    const uint32_t *src = s->squared ? v[o->dst] : v[o->src];
    for (uint32_t i = 0; i < n; i++) {
        fe_sqr(v[o->dst], src, s->prod);
        src = v[o->dst];
    }
    s->squared += n;
    if (s->squared == o->n) {
        if (o->mul != NONE) {
            fe_mul(v[o->dst], src, v[o->mul], s->prod);
        }
        s->op++;
        s->squared = 0;
    }
}

uint32_t x25519_units(void) {
    uint32_t units = X25519_LADDER_STEPS;
    for (uint32_t i = 0; i < N_INVERT; i++) {
        // ceil(n / X25519_SQR_PER_UNIT), at least 1 (no division: armv6m has none)
        int32_t n = INVERT[i].n;
        do {
            units++;
            n -= X25519_SQR_PER_UNIT;
        } while (n > 0);
    }
    return units;
}

void x25519_wipe(x25519_state *s) {
    volatile uint8_t *p = (volatile uint8_t *)s;
    for (uint32_t i = 0; i < sizeof(*s); i++) {
        p[i] = 0;
    }
}

void x25519_start(x25519_state *s, const uint8_t scalar[32], const uint8_t u[32]) {
    x25519_wipe(s);
    for (int i = 0; i < 32; i++) {
        s->scalar[i] = scalar[i];
    }
    s->scalar[0] &= 248; // RFC 7748 section 5: clamping
    s->scalar[31] &= 127;
    s->scalar[31] |= 64;
    load(s->slot[X1], u);
    load(s->slot[X3], u);
    set_small(s->slot[X2], 1);
    set_small(s->slot[Z3], 1); // Z2 is 0 from the wipe
}

int x25519_run(x25519_state *s, uint32_t budget) {
    uint32_t total = x25519_units();
    for (; budget && s->unit < total; budget--) {
        if (s->unit < X25519_LADDER_STEPS) {
            ladder_step(s);
        } else {
            invert_unit(s);
        }
        s->unit++;
    }
    return s->unit >= total;
}

int x25519_finish(uint8_t out[32], x25519_state *s) {
    freeze(out, s->slot[X3], s->slot[T0]);
    uint32_t any = 0;
    for (int i = 0; i < 32; i++) {
        any |= out[i];
    }
    x25519_wipe(s);
    return any != 0;
}
