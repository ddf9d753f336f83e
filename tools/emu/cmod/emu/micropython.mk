# The emulated board's own module (`emu`: flash, RNG and debug output through
# QEMU's semihosting) and AES from axTLS for cryptolib, without axTLS's TLS code
# (it does not build on bare metal).
EMU_MOD_DIR := $(USERMOD_DIR)

SRC_USERMOD += $(EMU_MOD_DIR)/modemu.c
SRC_USERMOD_LIB_C += lib/axtls/crypto/aes.c
CFLAGS_USERMOD += -I$(EMU_MOD_DIR)
