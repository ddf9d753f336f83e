// `emu`: what the emulated board (QEMU mps2-an385) has instead of a board's
// peripherals, all through Arm semihosting (QEMU runs with -semihosting):
//
//   emu.Flash()      a block device backed by the file `flash.bin` in QEMU's
//                    working directory (4 KiB blocks), mounted as littlefs at
//                    `/` by the frozen _boot.py: the board's flash, kept across
//                    resets and restarts of the emulator;
//   emu.urandom(n)   n bytes from the host's /dev/urandom: the emulator's raw
//                    RNG, which only this board has (the board file names it
//                    "rng": "emulator" and the firmware refuses it elsewhere);
//   emu.debug(s)     writes s to QEMU's standard error: a debug port beside
//                    the console UART, for a board whose console carries the link;
//   emu.exit(code)   ends QEMU (exit status 0 for code 0, else 1): a script run
//                    on a fresh board (tools/emuboard.py run) says it is done.
//
// Importing it (the frozen _boot.py does, at every reset) also turns on the
// console UART's receive interrupt, so that an idle VM waiting in WFI (see
// tools/emu/include/emu_port.h) wakes up as soon as a byte arrives.
//
// Built as a user C module (USER_C_MODULES) by tools/emubuild.py.

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "extmod/vfs.h"

#define SYS_OPEN (0x01)
#define SYS_WRITE (0x05)
#define SYS_READ (0x06)
#define SYS_SEEK (0x0a)
#define SYS_FLEN (0x0c)
#define SYS_TIME (0x11)
#define SYS_EXIT (0x18)
#define ADP_STOPPED_APPLICATION_EXIT (0x20026)
#define ADP_STOPPED_RUN_TIME_ERROR (0x20023)

#define MODE_RB (1)      // "rb"
#define MODE_RPLUSB (3)  // "r+b"
#define MODE_A (8)       // "a": ":tt" opened for append is QEMU's standard error

#define FLASH_FILE "flash.bin"
#define FLASH_BLOCK (4096)

static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__ ("r0") = op;
    register const void *r1 __asm__ ("r1") = arg;
    __asm__ __volatile__ ("bkpt 0xAB" : "+r" (r0) : "r" (r1) : "memory");
    return r0;
}

// Host handles, opened on first use; 0 means "not yet" (.bss is zeroed at
// every reset, semihosting handles are >= 1).
static int flash_handle;
static int urandom_handle;
static int debug_handle;

static int open_or_raise(int *handle, const char *name, uint32_t mode) {
    if (*handle <= 0) {
        uint32_t args[3] = {(uint32_t)name, mode, strlen(name)};
        int h = (int)semihost(SYS_OPEN, args);
        if (h <= 0) {
            mp_raise_OSError(MP_ENODEV);
        }
        *handle = h;
    }
    return *handle;
}

static void seek_or_raise(int h, uint32_t pos) {
    uint32_t args[2] = {(uint32_t)h, pos};
    if (semihost(SYS_SEEK, args) != 0) {
        mp_raise_OSError(MP_EIO);
    }
}

static void read_or_raise(int h, void *buf, size_t n) {
    uint32_t args[3] = {(uint32_t)h, (uint32_t)buf, n};
    if (semihost(SYS_READ, args) != 0) {  // the number of bytes NOT read
        mp_raise_OSError(MP_EIO);
    }
}

static void write_or_raise(int h, const void *buf, size_t n) {
    uint32_t args[3] = {(uint32_t)h, (uint32_t)buf, n};
    if (semihost(SYS_WRITE, args) != 0) {  // the number of bytes NOT written
        mp_raise_OSError(MP_EIO);
    }
}

// The host's clock, for littlefs's file times (the port has no RTC).
uint64_t mp_hal_time_ns(void) {
    return (uint64_t)semihost(SYS_TIME, NULL) * 1000000000ULL;
}

// ---------------------------------------------------------------- emu.urandom

static mp_obj_t emu_urandom(mp_obj_t n_in) {
    mp_int_t n = mp_obj_get_int(n_in);
    if (n < 0) {
        mp_raise_ValueError(NULL);
    }
    int h = open_or_raise(&urandom_handle, "/dev/urandom", MODE_RB);
    vstr_t vstr;
    vstr_init_len(&vstr, n);
    read_or_raise(h, vstr.buf, n);
    return mp_obj_new_bytes_from_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(emu_urandom_obj, emu_urandom);

// ---------------------------------------------------------------- emu.debug

static mp_obj_t emu_debug(mp_obj_t s_in) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(s_in, &b, MP_BUFFER_READ);
    int h = open_or_raise(&debug_handle, ":tt", MODE_A);
    write_or_raise(h, b.buf, b.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(emu_debug_obj, emu_debug);

// ---------------------------------------------------------------- emu.exit

static mp_obj_t emu_exit(mp_obj_t code_in) {
    mp_int_t code = mp_obj_get_int(code_in);
    semihost(SYS_EXIT, (const void *)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT
        : ADP_STOPPED_RUN_TIME_ERROR));
    for (;;) {
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(emu_exit_obj, emu_exit);

// ---------------------------------------------------------------- emu.Flash

typedef struct _emu_flash_obj_t {
    mp_obj_base_t base;
    uint32_t blocks;
} emu_flash_obj_t;

static const mp_obj_type_t emu_flash_type;

static mp_obj_t emu_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    int h = open_or_raise(&flash_handle, FLASH_FILE, MODE_RPLUSB);
    uint32_t a[1] = {(uint32_t)h};
    int len = (int)semihost(SYS_FLEN, a);
    if (len < 0) {
        mp_raise_OSError(MP_EIO);
    }
    emu_flash_obj_t *self = mp_obj_malloc(emu_flash_obj_t, type);
    self->blocks = (uint32_t)len / FLASH_BLOCK;
    return MP_OBJ_FROM_PTR(self);
}

// readblocks(block, buf[, offset]) and writeblocks(block, buf[, offset]):
// the extended block protocol that VfsLfs2 uses.
static mp_obj_t emu_flash_rw(size_t n_args, const mp_obj_t *args, bool write) {
    emu_flash_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    uint32_t block = mp_obj_get_int(args[1]);
    mp_buffer_info_t b;
    mp_get_buffer_raise(args[2], &b, write ? MP_BUFFER_READ : MP_BUFFER_WRITE);
    uint32_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    uint32_t pos = block * FLASH_BLOCK + off;
    if (block >= self->blocks || pos + b.len > self->blocks * FLASH_BLOCK) {
        mp_raise_OSError(MP_EIO);
    }
    seek_or_raise(flash_handle, pos);
    if (write) {
        write_or_raise(flash_handle, b.buf, b.len);
    } else {
        read_or_raise(flash_handle, b.buf, b.len);
    }
    return mp_const_none;
}

static mp_obj_t emu_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    return emu_flash_rw(n_args, args, false);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(emu_flash_readblocks_obj, 3, 4, emu_flash_readblocks);

static mp_obj_t emu_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    return emu_flash_rw(n_args, args, true);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(emu_flash_writeblocks_obj, 3, 4, emu_flash_writeblocks);

static mp_obj_t emu_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    emu_flash_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(self->blocks);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(FLASH_BLOCK);
        default:  // init, deinit, sync; erase: a file needs none
            return MP_OBJ_NEW_SMALL_INT(0);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(emu_flash_ioctl_obj, emu_flash_ioctl);

static const mp_rom_map_elem_t emu_flash_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&emu_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&emu_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&emu_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(emu_flash_locals_dict, emu_flash_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    emu_flash_type,
    MP_QSTR_Flash,
    MP_TYPE_FLAG_NONE,
    make_new, emu_flash_make_new,
    locals_dict, &emu_flash_locals_dict
    );

// ---------------------------------------------------------------- wake on receive

#define UART0_CTRL (*(volatile uint32_t *)0x40004008)
#define UART0_INTSTATUS (*(volatile uint32_t *)0x4000400c)
#define UART_CTRL_RX_INTEN (1 << 3)
#define UART_INT_RX (1 << 1)
#define UART0_RX_IRQ (0)  // mps2-an385: UART0 receive is external interrupt 0
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08)
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100)

// The port's vector table has the 16 system exceptions only: a copy in RAM
// gets the UART's entry (VTOR needs a table aligned to its size, 32 words).
static uint32_t ram_vectors[32] __attribute__((aligned(128)));

static void uart0_rx_irq(void) {
    UART0_INTSTATUS = UART_INT_RX;  // acknowledge; the byte stays for the reader
}

static mp_obj_t emu___init__(void) {
    if (SCB_VTOR != (uint32_t)ram_vectors) {
        const uint32_t *rom = (const uint32_t *)SCB_VTOR;
        for (int i = 0; i < 32; i++) {
            ram_vectors[i] = i < 16 ? rom[i] : rom[3];  // others: the hard fault handler
        }
        ram_vectors[16 + UART0_RX_IRQ] = (uint32_t)uart0_rx_irq;
        SCB_VTOR = (uint32_t)ram_vectors;
        UART0_CTRL |= UART_CTRL_RX_INTEN;
        NVIC_ISER0 = 1u << UART0_RX_IRQ;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(emu___init___obj, emu___init__);

// ---------------------------------------------------------------- module

static const mp_rom_map_elem_t emu_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_emu) },
    { MP_ROM_QSTR(MP_QSTR___init__), MP_ROM_PTR(&emu___init___obj) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&emu_flash_type) },
    { MP_ROM_QSTR(MP_QSTR_urandom), MP_ROM_PTR(&emu_urandom_obj) },
    { MP_ROM_QSTR(MP_QSTR_debug), MP_ROM_PTR(&emu_debug_obj) },
    { MP_ROM_QSTR(MP_QSTR_exit), MP_ROM_PTR(&emu_exit_obj) },
};
static MP_DEFINE_CONST_DICT(emu_module_globals, emu_module_globals_table);

const mp_obj_module_t emu_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&emu_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_emu, emu_module);
