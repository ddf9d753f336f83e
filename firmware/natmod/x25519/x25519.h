// X25519 (RFC 7748) for ephkey's native module: field arithmetic mod
// p = 2^255 - 19 on 16 limbs of 16 bits, in one caller-owned state.
//
// Only 32-bit multiplies of 16-bit limbs (MULS on Cortex-M0+, MUL on M3/M4):
// never a 32x32->64 multiply, which is a library call on armv6m and an
// early-terminating (variable-time) UMULL on the Cortex-M3. Sums are kept in
// 64-bit accumulators, which cost only an add with carry.
#ifndef EPHKEY_X25519_H
#define EPHKEY_X25519_H

#include <stdint.h>

#define X25519_LIMBS 16
typedef uint32_t fe[X25519_LIMBS];

// Field elements of the state: the ladder's five, then four temporaries the
// ladder step and the inversion share.
enum { X1, X2, Z2, X3, Z3, T0, T1, T2, T3, N_SLOTS };

typedef struct {
    fe slot[N_SLOTS];
    uint32_t prod[2 * X25519_LIMBS]; // a product before its reduction
    uint8_t scalar[32];              // the clamped scalar
    uint32_t unit;                   // work units done
    uint32_t swap;                   // the ladder's pending swap bit
    uint32_t op;                     // inversion: the operation being run
    uint32_t squared;                // ... and its squarings done so far
} x25519_state;

// Ladder steps, then the inversion's units; a unit is at most about one
// ladder step's work.
#define X25519_LADDER_STEPS 255
#define X25519_SQR_PER_UNIT 12

uint32_t x25519_units(void);
void x25519_start(x25519_state *s, const uint8_t scalar[32], const uint8_t u[32]);
// Runs up to `budget` units; 1 once every unit is done.
int x25519_run(x25519_state *s, uint32_t budget);
// The result into out (32 bytes, little-endian); 0 if it is all zeros. Wipes s.
int x25519_finish(uint8_t out[32], x25519_state *s);
void x25519_wipe(x25519_state *s);

// Field operations (exported for the host tests; limbs in and out < 2^16).
void fe_mul(fe r, const fe a, const fe b, uint32_t prod[2 * X25519_LIMBS]);
#define fe_sqr(r, a, prod) fe_mul((r), (a), (a), (prod))
void fe_add(fe r, const fe a, const fe b);
void fe_sub(fe r, const fe a, const fe b);
void fe_mul_a24_add(fe r, const fe a, const fe b); // r = a + 121665 * b
void fe_freeze(uint8_t out[32], const fe a);        // canonical, little-endian

#endif
