"""Build the emulated board's firmware image (``make emu``).

    python tools/emubuild.py [--src TARBALL_OR_CHECKOUT] [--jobs N] [--force]

MicroPython's ``qemu`` port for ``BOARD=MPS2_AN385`` (QEMU's mps2-an385: a
Cortex-M3, 4 MB RAM, 140 KiB MicroPython heap), with:

* ``cryptolib`` on axTLS's AES (a user C module compiles ``lib/axtls/crypto/aes.c``
  only: axTLS's TLS code does not build on bare metal), ``hashlib`` (sha256 from
  ``lib/crypto-algorithms``), ``asyncio`` (the port turns it off: one line of
  ``ports/qemu/mpconfigport.h`` is patched) and the viper/native emitters;
* the ``emu`` module (tools/emu/cmod): the board's flash, the emulator-only
  RNG and a debug output, all through semihosting;
* a board's boot sequence (``ports/qemu/main.c`` patched): the frozen
  ``_boot.py`` mounts the flash, then ``boot.py`` and ``main.py`` run, and
  ``machine.reset()`` resets the board instead of ending QEMU;
* ``ephkey`` frozen through ``boards/qemu_mps2_an385/manifest.py``, compiled
  for armv6m (the RP2040's instruction set, a subset of the Cortex-M3's).

MicroPython's sources come from ``--src`` (``MICROPYTHON_SRC`` in make): the
v1.28.0 source tarball (default: ``shared/third_party/micropython-1.28.0-src.tar.xz``
beside this checkout or one of its parent folders) or a MicroPython checkout
(a git clone at v1.28.0 with the submodules lib/axtls and lib/micropython-lib).
They are copied to ``build/emu/src-<hash>/`` and patched there, never in place.

Outputs, in ``build/emu/image/``: ``firmware.elf``, ``mpy-cross`` (the
cross-compiler of the same sources) and ``image.json`` (the cache key, the
sources, the build time). The build is skipped when the key, a hash of every
input (sources, patches, C module, port files, manifest, frozen firmware,
flags, compiler version), is that of the image already there.

Needs the Debian packages gcc-arm-none-eabi, libnewlib-arm-none-eabi and
qemu-system-arm (the emulator, to run the image); without them it stops with
one line naming them (exit code 2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "tools" / "emu"  # the image's own files: C module, headers, _boot.py
BUILD = REPO / "build" / "emu"
IMAGE = BUILD / "image"
BOARD_DIR = REPO / "boards" / "qemu_mps2_an385"
MANIFEST = BOARD_DIR / "manifest.py"
TARBALL_NAME = "micropython-1.28.0-src.tar.xz"
MP_BOARD = "MPS2_AN385"
FROZEN_ARCH = "armv6m"

PACKAGES = {  # Debian package: the file that shows it is installed
    "gcc-arm-none-eabi": "arm-none-eabi-gcc",
    "libnewlib-arm-none-eabi": "libc.a",
    "qemu-system-arm": "qemu-system-arm",
}

# Only what the qemu port, mpy-cross and the freeze step use (a full checkout
# with every submodule is gigabytes).
SOURCE_PARTS = (
    "py", "extmod", "shared", "drivers", "tools", "mpy-cross", "ports/qemu",
    "lib/axtls", "lib/micropython-lib", "lib/crypto-algorithms", "lib/libm",
    "lib/libm_dbl", "lib/littlefs", "lib/oofatfs", "lib/re1.5", "lib/uzlib",
    "lib/cmsis", "lib/mbedtls_errors", "LICENSE",
)

# (file, pattern, replacement): each pattern must match exactly once.
PATCHES: tuple[tuple[str, str, str], ...] = (
    # The port hard-codes asyncio off, without #ifndef: CFLAGS cannot change it.
    ("ports/qemu/mpconfigport.h",
     r"#define MICROPY_PY_ASYNCIO\s+\(0\)",
     "#define MICROPY_PY_ASYNCIO          (1)"),
    # A board's boot sequence: mount the flash, run boot.py and main.py, unless
    # the reset came from the raw REPL (mpremote relies on that).
    ("ports/qemu/main.c",
     r"        mp_init\(\);\n",
     "        mp_init();\n"
     "        // ephkey emulated board: _boot.py mounts the flash, then boot.py, main.py\n"
     "        int boot_ret = pyexec_frozen_module(\"_boot.py\", false);\n"
     "        if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {\n"
     "            boot_ret = pyexec_file_if_exists(\"boot.py\");\n"
     "            if (!(boot_ret & PYEXEC_FORCED_EXIT)) {\n"
     "                boot_ret = pyexec_file_if_exists(\"main.py\");\n"
     "            }\n"
     "        }\n"),
    ("ports/qemu/main.c",
     r"        for \(;;\) \{\n            if \(pyexec_mode_kind == PYEXEC_MODE_RAW_REPL\)",
     "        while (!(boot_ret & PYEXEC_FORCED_EXIT)) {\n"
     "            if (pyexec_mode_kind == PYEXEC_MODE_RAW_REPL)"),
    # The REPL waits for a key in WFI, not in a busy loop (tools/emu/include/emu_port.h).
    ("ports/qemu/mphalport.c",
     r"        #if USE_SEMIHOSTING\n        char str\[1\];",
     "        MICROPY_INTERNAL_WFE(-1);\n"
     "        #if USE_SEMIHOSTING\n        char str[1];"),
    # Frozen armv6m native code must be word aligned: the armv6m emitter loads
    # 32-bit constants with `ldr rX, [pc, #0]`, whose base is the PC rounded down
    # to a word, and places each literal assuming the code starts on a word (as
    # code loaded from a .mpy into the heap does). v1.28.0's mpy-tool.py freezes
    # all ARMv*M code 2-byte aligned, so a viper function that lands at 2 mod 4
    # reads every such constant 2 bytes off: wrong results, no error. Found when
    # the frozen _ccm.seal sealed frames the peer could not open.
    ("tools/mpy-tool.py",
     r"            MP_NATIVE_ARCH_ARMV6,\n            MP_NATIVE_ARCH_XTENSA,\n",
     "            MP_NATIVE_ARCH_ARMV6,\n            MP_NATIVE_ARCH_ARMV6M,\n"
     "            MP_NATIVE_ARCH_XTENSA,\n"),
    # A fault (HardFault, ...) ends QEMU once the registers are printed, instead of
    # spinning until a test's timeout (tools/emu/cmod/emu/modemu.c).
    ("ports/qemu/mcu/arm/errorhandler.c",
     r"    #endif\n\n    for \(;;\) \{\}\n\}\n",
     "    #endif\n\n    extern void emu_fault_exit(void);\n    emu_fault_exit();\n}\n"),
    # machine.reset() resets the board (SYSRESETREQ: QEMU restarts the guest
    # and keeps its serial connection) instead of ending the emulator.
    ("ports/qemu/modmachine.c",
     r"    // Exit qemu \(via semihosting call\)\.\n    exit\(0\);\n",
     "    // ephkey emulated board: a system reset, as a board does (AIRCR.SYSRESETREQ).\n"
     "    *(volatile uint32_t *)0xE000ED0C = 0x05FA0004;\n"
     "    for (;;) {\n"
     "    }\n"),
)


def cflags_extra() -> str:
    inc = HERE / "include"
    return " ".join([
        "-DMICROPY_PY_CRYPTOLIB=1",
        "-DMICROPY_SSL_AXTLS=1",
        "-I../../lib/axtls/crypto",
        "-I../../lib/axtls/ssl",
        "-I../../extmod/axtls-include",
        f"-I{inc}",
        f"-include {inc / 'emu_port.h'}",
    ])


def make_vars() -> list[str]:
    return [
        f"BOARD={MP_BOARD}",
        f"FROZEN_MANIFEST={MANIFEST}",
        f"USER_C_MODULES={HERE / 'cmod'}",
        "MICROPY_VFS_LFS2=1",
        f"MPY_CROSS_FLAGS=-march={FROZEN_ARCH}",
        f"CFLAGS_EXTRA={cflags_extra()}",
    ]


class BuildError(Exception):
    pass


def missing_packages() -> list[str]:
    """The Debian packages of PACKAGES that are not installed."""
    missing = []
    for pkg, probe in PACKAGES.items():
        if probe == "libc.a":
            gcc = shutil.which("arm-none-eabi-gcc")
            if gcc is None:
                missing.append(pkg)
                continue
            out = subprocess.run([gcc, "-print-file-name=libc.a"], capture_output=True,
                                 text=True).stdout.strip()
            if not os.path.isabs(out):
                missing.append(pkg)
        elif shutil.which(probe) is None:
            missing.append(pkg)
    return missing


def packages_line(missing: list[str]) -> str:
    return ("emu: needs the Debian packages " + ", ".join(PACKAGES) + " (missing: "
            + ", ".join(missing) + "): sudo apt-get install " + " ".join(PACKAGES))


def default_source() -> Path | None:
    """shared/third_party/<tarball> beside the checkout or one of its parents."""
    for parent in REPO.parents:
        p = parent / "shared" / "third_party" / TARBALL_NAME
        if p.is_file():
            return p
    return None


def resolve_source(src: str | None) -> Path:
    if src:
        p = Path(src).expanduser().resolve()
        if not p.exists():
            raise BuildError(f"emu: MICROPYTHON_SRC={src}: no such file or folder")
        return p
    found = default_source()
    if found is None:
        raise BuildError(f"emu: no MicroPython sources: {TARBALL_NAME} is not in "
                         "shared/third_party/ beside this checkout; name a tarball or a "
                         "checkout with MICROPYTHON_SRC=")
    return found


def _hash_file(h: hashlib._Hash, path: Path, name: str) -> None:
    h.update(name.encode() + b"\0")
    h.update(path.read_bytes())
    h.update(b"\0")


def _hash_tree(h: hashlib._Hash, root: Path, parts: tuple[str, ...]) -> None:
    for part in parts:
        base = root / part
        files = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.is_file() and ".git" not in p.parts)
        for f in files:
            _hash_file(h, f, str(f.relative_to(root)))


def source_key(src: Path) -> str:
    """Hash of the MicroPython sources and the patches applied to them."""
    h = hashlib.sha256()
    if src.is_file():
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        _hash_tree(h, src, SOURCE_PARTS)
    h.update(json.dumps(PATCHES).encode())
    return h.hexdigest()


def image_key(src_key: str) -> str:
    """Hash of everything that goes into the image."""
    h = hashlib.sha256(src_key.encode())
    _hash_file(h, Path(__file__).resolve(), "tools/emubuild.py")  # patches, flags
    for f in sorted(p for p in HERE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        _hash_file(h, f, str(f.relative_to(REPO)))
    _hash_file(h, MANIFEST, "boards/qemu_mps2_an385/manifest.py")
    for f in sorted((REPO / "firmware" / "ephkey").glob("*.py")):
        _hash_file(h, f, str(f.relative_to(REPO)))
    h.update(" ".join(make_vars()).encode())
    gcc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True)
    h.update(gcc.stdout.encode())
    return h.hexdigest()


def _top_dir(src_tree: Path) -> Path:
    """The folder of an unpacked tarball that holds py/ (the tarball's top folder)."""
    if (src_tree / "py").is_dir():
        return src_tree
    subs = [d for d in src_tree.iterdir() if d.is_dir() and (d / "py").is_dir()]
    if len(subs) != 1:
        raise BuildError(f"emu: no MicroPython tree (py/, ports/qemu/) in {src_tree}")
    return subs[0]


def prepare_sources(src: Path, key: str, log=print) -> Path:
    """Unpack (or copy) and patch the sources into build/emu/src-<key>/; returns its top."""
    tree = BUILD / f"src-{key[:12]}"
    done = tree / ".prepared"
    if done.exists():
        return _top_dir(tree)
    if tree.exists():
        shutil.rmtree(tree)
    for old in BUILD.glob("src-*"):  # sources of an earlier key
        shutil.rmtree(old, ignore_errors=True)
    tree.mkdir(parents=True)
    if src.is_file():
        log(f"emu: unpacking {src.name}")
        with tarfile.open(src) as tar:
            try:
                tar.extractall(tree, filter="data")
            except TypeError:  # Python before 3.10.12 / 3.11.4: no extraction filters
                tar.extractall(tree)
        top = _top_dir(tree)
    else:
        log(f"emu: copying the sources from {src}")
        top = tree / "micropython"
        for part in SOURCE_PARTS:
            s = src / part
            if not s.exists():
                raise BuildError(f"emu: {src} has no {part}: a MicroPython v1.28.0 checkout "
                                 "with `git submodule update --init lib/axtls lib/micropython-lib`")
            if s.is_dir():
                shutil.copytree(s, top / part, ignore=shutil.ignore_patterns(".git"))
            else:
                (top / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(s, top / part)
    for rel, pattern, repl in PATCHES:
        path = top / rel
        text = path.read_text()
        new, n = re.subn(pattern, repl.replace("\\", "\\\\"), text)  # repl taken literally
        if n != 1:
            raise BuildError(f"emu: cannot patch {rel} ({n} matches of {pattern!r}): "
                             "not MicroPython v1.28.0's qemu port?")
        path.write_text(new)
    done.touch()
    return top


def run(cmd: list[str], cwd: Path, log_path: Path) -> None:
    with open(log_path, "a") as logf:
        logf.write("$ " + " ".join(cmd) + "\n")
        logf.flush()
        # GIT_DIR: the version banner must not come from a git repository the
        # build folder happens to be inside (this checkout): v1.28.0's own.
        env = dict(os.environ, GIT_DIR=str(cwd / ".no-git"))
        proc = subprocess.run(cmd, cwd=cwd, stdout=logf, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        raise BuildError("emu: build failed: " + " ".join(cmd[:3]) + f" ... (log: "
                         f"{log_path.relative_to(REPO)})\n" + "\n".join(tail))


NATIVE_SCOPE = re.compile(r"^// frozen native code for file \S+, scope (\w+)$", re.M)


def frozen_native_code(frozen_c: Path, elf: Path) -> dict[str, int]:
    """Address of every frozen native (viper) function of the image, by its symbol."""
    names = {"fun_data_" + m for m in NATIVE_SCOPE.findall(frozen_c.read_text())}
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                        check=True).stdout
    found = {}
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16)
    if found.keys() != names:
        raise BuildError(f"emu: frozen native code not in {elf.name}: "
                         + ", ".join(sorted(names - found.keys())))
    return found


def check_native_alignment(frozen_c: Path, elf: Path) -> int:
    """The number of frozen native functions; BuildError if one is not word aligned
    (its 32-bit constants would load wrong: see the mpy-tool.py patch)."""
    code = frozen_native_code(frozen_c, elf)
    bad = sorted(f"{name} at {addr:#x}" for name, addr in code.items() if addr & 3)
    if bad:
        raise BuildError("emu: frozen armv6m native code not word aligned (its 32-bit "
                         "constants load 2 bytes off): " + ", ".join(bad))
    return len(code)


def build(src_arg: str | None = None, jobs: int = 2, force: bool = False, log=print) -> Path:
    """Build (or find up to date) the image; returns build/emu/image/."""
    missing = missing_packages()
    if missing:
        raise BuildError(packages_line(missing))
    src = resolve_source(src_arg)
    skey = source_key(src)
    ikey = image_key(skey)
    info_path = IMAGE / "image.json"
    if not force and info_path.exists() and (IMAGE / "firmware.elf").exists():
        try:
            if json.loads(info_path.read_text()).get("key") == ikey:
                log(f"emu: image up to date ({ikey[:12]}) in {IMAGE.relative_to(REPO)}")
                return IMAGE
        except ValueError:
            pass
    t0 = time.monotonic()
    BUILD.mkdir(parents=True, exist_ok=True)
    top = prepare_sources(src, skey, log)
    log_path = BUILD / "build.log"
    log_path.write_text("")
    mpy_cross = top / "mpy-cross" / "build" / "mpy-cross"
    if not mpy_cross.exists():
        log("emu: building mpy-cross")
        run(["make", "-C", "mpy-cross", f"-j{jobs}"], top, log_path)
    # make does not see a change of flags: start the port's build afresh then
    flags = top / "ports" / "qemu" / ".emu-flags"
    if flags.exists() and flags.read_text() != "\n".join(make_vars()):
        run(["make", "-C", "ports/qemu", f"BOARD={MP_BOARD}", "clean"], top, log_path)
    log(f"emu: building the qemu port ({MP_BOARD}, ephkey frozen for {FROZEN_ARCH})")
    run(["make", "-C", "ports/qemu", f"-j{jobs}", *make_vars()], top, log_path)
    flags.write_text("\n".join(make_vars()))
    elf = top / "ports" / "qemu" / f"build-{MP_BOARD}" / "firmware.elf"
    native = check_native_alignment(elf.parent / "frozen_content.c", elf)
    IMAGE.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(elf, IMAGE / "firmware.elf")
    shutil.copyfile(mpy_cross, IMAGE / "mpy-cross")
    os.chmod(IMAGE / "mpy-cross", 0o755)
    size = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True)
    seconds = round(time.monotonic() - t0, 1)
    info: dict[str, Any] = {
        "key": ikey,
        "source": src.name if src.is_file() else str(src),
        "source_key": skey,
        "board": MP_BOARD,
        "frozen_arch": FROZEN_ARCH,
        "frozen_native_functions": native,  # each word aligned (check_native_alignment)
        "build_seconds": seconds,
        "size": size.stdout.strip().splitlines()[-1].split()[:4] if size.stdout else [],
    }
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    log(f"emu: built {IMAGE.relative_to(REPO)}/firmware.elf in {seconds} s "
        f"(text, data, bss: {', '.join(info['size'][:3])})")
    return IMAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default=os.environ.get("MICROPYTHON_SRC") or None,
                        help=f"{TARBALL_NAME} or a MicroPython checkout (default: "
                        "shared/third_party/ beside this checkout)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    try:
        build(args.src, args.jobs, args.force)
    except BuildError as e:
        print(e, file=sys.stderr)
        return 2 if str(e).startswith("emu: needs the Debian") else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
