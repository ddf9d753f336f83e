# Frozen into the emulated board's image; run at every reset before boot.py
# and main.py. Mounts the board's flash (emu.Flash: QEMU's flash.bin) as
# littlefs at "/", formatting it the first time, as rp2's _boot.py does.
import os

import emu

try:
    _bdev = emu.Flash()
    try:
        os.mount(os.VfsLfs2(_bdev), "/")
    except OSError:
        os.VfsLfs2.mkfs(_bdev)
        os.mount(os.VfsLfs2(_bdev), "/")
    os.chdir("/")
    del _bdev
except OSError as e:
    print("emu: no flash (%r): running without a filesystem" % (e,))
del os, emu
