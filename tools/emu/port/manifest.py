# What the emulated board's image carries besides the application, like a
# MicroPython port's own board manifest: asyncio (the qemu port has none
# frozen) and _boot.py, which mounts the flash. boards/qemu_mps2_an385/manifest.py
# includes this file.
include("$(MPY_DIR)/extmod/asyncio")
freeze(".", "_boot.py")
