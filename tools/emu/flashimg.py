# Makes an emulated board's flash (flash.bin: littlefs, 4 KiB blocks) from a
# folder, without the board: run by MicroPython's unix port, whose VfsLfs2 is
# the same littlefs as the board's.
#
#     micropython tools/emu/flashimg.py SRC_DIR OUT_FILE [SIZE_KIB]
#
# Every file under SRC_DIR lands at the same path on the board ("/" is SRC_DIR).
# Copying files over the console (mpremote fs cp) costs about 4 console bytes
# per byte and the emulated UART takes some 12 KB/s: this is for tests and
# tools that prepare a board's whole flash at once (tools/emu/board.py).
import os
import sys

BLOCK = 4096


class RamBlockDev:
    def __init__(self, blocks):
        self.blocks = blocks
        self.data = bytearray(b"\xff" * (blocks * BLOCK))

    def readblocks(self, n, buf, off=0):
        a = n * BLOCK + off
        buf[:] = memoryview(self.data)[a : a + len(buf)]

    def writeblocks(self, n, buf, off=0):
        a = n * BLOCK + off
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        return 0


def copy_tree(vfs, src, dst):
    for entry in os.ilistdir(src):
        name, kind = entry[0], entry[1]
        s = src + "/" + name
        d = dst + "/" + name if dst else name
        if kind == 0x4000:
            vfs.mkdir(d)
            copy_tree(vfs, s, d)
        else:
            with open(s, "rb") as f:
                data = f.read()
            with vfs.open(d, "wb") as f:
                f.write(data)


def main(argv):
    if len(argv) < 2:
        print("usage: micropython flashimg.py SRC_DIR OUT_FILE [SIZE_KIB]")
        return 2
    src, out = argv[0], argv[1]
    size_kib = int(argv[2]) if len(argv) > 2 else 1024
    dev = RamBlockDev(size_kib * 1024 // BLOCK)
    os.VfsLfs2.mkfs(dev)
    vfs = os.VfsLfs2(dev, mtime=False)  # no host times: the same files give the same image
    vfs.mount(False, False)
    copy_tree(vfs, src.rstrip("/"), "")
    vfs.umount()
    with open(out, "wb") as f:
        f.write(dev.data)
    return 0


sys.exit(main(sys.argv[1:]))
