// _ephkey_x25519: the native module behind ephkey.x25519 (a MicroPython
// dynamic native module: tools/natmod.py builds it, `make natmod`).
//
// The state is a bytearray of STATE_BYTES that the caller allocates once:
//   start(st, scalar, u)   clamped scalar and u (32 bytes each) into st
//   run(st, budget)        up to budget work units; True once all UNITS are done
//   finish(out, st)        the result into out (32 bytes); False if all zeros; wipes st
//   wipe(st)               zeroes st
// Nothing here allocates: the functions return small ints or booleans.
#include "py/dynruntime.h"

#include "x25519.h"

// Bumped when these functions change meaning: ephkey.x25519 checks it.
#define ABI 1

static x25519_state *state_of(mp_obj_t obj) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(obj, &info, MP_BUFFER_RW);
    if (info.len != sizeof(x25519_state) || ((uintptr_t)info.buf & 3) != 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("x25519: state"));
    }
    return (x25519_state *)info.buf;
}

static uint8_t *bytes32(mp_obj_t obj, mp_uint_t flags) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(obj, &info, flags);
    if (info.len != 32) {
        mp_raise_ValueError(MP_ERROR_TEXT("x25519: 32-byte inputs"));
    }
    return (uint8_t *)info.buf;
}

static mp_obj_t start(mp_obj_t st, mp_obj_t scalar, mp_obj_t u) {
    x25519_start(state_of(st), bytes32(scalar, MP_BUFFER_READ), bytes32(u, MP_BUFFER_READ));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(start_obj, start);

static mp_obj_t run(mp_obj_t st, mp_obj_t budget) {
    mp_int_t n = mp_obj_get_int(budget);
    return x25519_run(state_of(st), n > 0 ? (uint32_t)n : 0) ? mp_const_true : mp_const_false;
}
static MP_DEFINE_CONST_FUN_OBJ_2(run_obj, run);

static mp_obj_t finish(mp_obj_t out, mp_obj_t st) {
    uint8_t *o = bytes32(out, MP_BUFFER_WRITE);
    x25519_state *s = state_of(st);
    if (s->unit < x25519_units()) {
        mp_raise_ValueError(MP_ERROR_TEXT("x25519: not done"));
    }
    return x25519_finish(o, s) ? mp_const_true : mp_const_false;
}
static MP_DEFINE_CONST_FUN_OBJ_2(finish_obj, finish);

static mp_obj_t wipe(mp_obj_t st) {
    x25519_wipe(state_of(st));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(wipe_obj, wipe);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    mp_store_global(MP_QSTR_start, MP_OBJ_FROM_PTR(&start_obj));
    mp_store_global(MP_QSTR_run, MP_OBJ_FROM_PTR(&run_obj));
    mp_store_global(MP_QSTR_finish, MP_OBJ_FROM_PTR(&finish_obj));
    mp_store_global(MP_QSTR_wipe, MP_OBJ_FROM_PTR(&wipe_obj));
    mp_store_global(MP_QSTR_STATE_BYTES, MP_OBJ_NEW_SMALL_INT(sizeof(x25519_state)));
    mp_store_global(MP_QSTR_UNITS, MP_OBJ_NEW_SMALL_INT(x25519_units()));
    mp_store_global(MP_QSTR_ABI, MP_OBJ_NEW_SMALL_INT(ABI));

    MP_DYNRUNTIME_INIT_EXIT
}
