"""Build the native X25519 module ``_ephkey_x25519.mpy`` (``make natmod``).

    python tools/natmod.py [--arch ARCH ...] [--src TARBALL_OR_CHECKOUT] [--force]

The C sources in firmware/natmod/x25519/ become a MicroPython dynamic native
module with MicroPython's own recipe (``py/dynruntime.mk``, ``tools/mpy_ld.py``,
which needs pyelftools) from the v1.28.0 sources (the tarball in
shared/third_party/ beside this checkout, or ``--src`` / ``MICROPYTHON_SRC``,
as for ``make emu``), one build per architecture:

* ``armv6m`` (RP2040), ``armv7m`` (Cortex-M3), ``armv7emsp`` (RP2350,
  Cortex-M4F/M33), ``armv7emdp`` (Cortex-M7, PYBD-SF6) with arm-none-eabi-gcc;
* ``x64`` (the unix port) with the host's gcc, on an x86_64 host.

Outputs: ``build/natmod/<arch>/_ephkey_x25519.mpy`` and ``build.json`` beside
it (the cache key, a hash of every input: the C sources, MicroPython's build
files, the flags, the compiler's version). A build whose key is unchanged is
skipped; an architecture whose compiler is missing is skipped with one line
saying which. ``ephkey.x25519`` loads the module where it is on the board's
path and falls back to its viper code elsewhere (xtensawin, rv32imc, or no
native build); tools/deploy.py ships it instead of ``_fe25519``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC_DIR = REPO / "firmware" / "natmod" / "x25519"
BUILD = REPO / "build" / "natmod"
MOD = "_ephkey_x25519"
SOURCES = ("mod.c", "x25519.c")
HEADERS = ("x25519.h",)
ARCHS = ("armv6m", "armv7m", "armv7emsp", "armv7emdp", "x64")
# Loop distribution would turn the wipe's loop into a memset call, which a
# native module cannot link; inline assembly (x25519.c's MAC) is in unified
# syntax; the rest is dynruntime.mk's (-Os).
CFLAGS_EXTRA = "-fno-tree-loop-distribute-patterns -Wextra -Wno-unused-parameter"
CFLAGS_ARM = "-masm-syntax-unified"


def cflags(arch: str) -> str:
    return CFLAGS_EXTRA if arch == "x64" else f"{CFLAGS_EXTRA} {CFLAGS_ARM}"


# What a native build needs from MicroPython's sources.
MP_PARTS = ("py/", "tools/mpy_ld.py", "tools/ar_util.py", "tools/mpy-tool.py", "LICENSE")


class NatmodError(Exception):
    pass


def compiler(arch: str) -> str | None:
    """The C compiler for arch, or None (a reason comes from missing())."""
    if arch == "x64":
        return shutil.which("gcc")
    return shutil.which("arm-none-eabi-gcc")


def missing(arch: str) -> str | None:
    """Why arch cannot be built here, in one line, or None."""
    if arch not in ARCHS:
        return f"natmod {arch}: no native build for this architecture (the viper code runs there)"
    if arch == "x64":
        if platform.machine().lower() not in ("x86_64", "amd64"):
            return f"natmod x64: skipped, this host is {platform.machine()}, not x86_64"
        if compiler(arch) is None:
            return "natmod x64: skipped, no gcc on PATH (Debian package gcc)"
    elif compiler(arch) is None:
        return f"natmod {arch}: skipped, no arm-none-eabi-gcc (Debian package gcc-arm-none-eabi)"
    try:
        import elftools  # noqa: F401
    except ImportError:
        return f"natmod {arch}: skipped, no pyelftools in this Python (make venv installs it)"
    return None


def output(arch: str) -> Path:
    return BUILD / arch / f"{MOD}.mpy"


def built(arch: str) -> Path | None:
    """The module built for arch, if there is one (no build is started)."""
    p = output(arch)
    return p if p.is_file() else None


def micropython_source() -> Path:
    """MicroPython's sources, found as `make emu` finds them; raises NatmodError."""
    sys.path.insert(0, str(REPO / "tools"))
    import emubuild

    try:
        return emubuild.resolve_source(os.environ.get("MICROPYTHON_SRC", "").strip() or None)
    except emubuild.BuildError as e:
        raise NatmodError(str(e).replace("emu:", "natmod:", 1)) from None


def _hash_source(src: Path) -> str:
    h = hashlib.sha256()
    if src.is_file():
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        for part in MP_PARTS:
            base = src / part.rstrip("/")
            files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
            for p in files:
                h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def prepare_micropython(src: Path, key: str, log=print) -> Path:
    """The parts of MicroPython a native build needs, in build/natmod/mp-<key>/."""
    tree = BUILD / f"mp-{key[:12]}"
    if (tree / ".prepared").exists():
        return tree
    for old in BUILD.glob("mp-*"):
        shutil.rmtree(old, ignore_errors=True)
    tree.mkdir(parents=True)
    if src.is_file():
        log(f"natmod: unpacking {src.name} (py/, tools/)")
        with tarfile.open(src) as tar:
            members = []
            for m in tar.getmembers():
                rel = m.name.split("/", 1)[1] if "/" in m.name else ""
                if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in MP_PARTS):
                    m.name = rel
                    members.append(m)
            try:
                tar.extractall(tree, members=members, filter="data")
            except TypeError:  # Python before 3.10.12 / 3.11.4: no extraction filters
                tar.extractall(tree, members=members)
    else:
        for part in MP_PARTS:
            s = src / part.rstrip("/")
            if s.is_dir():
                shutil.copytree(s, tree / part.rstrip("/"))
            elif s.is_file():
                (tree / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(s, tree / part)
            else:
                raise NatmodError(f"natmod: {src} has no {part}: not a MicroPython checkout")
    if not (tree / "py" / "dynruntime.mk").is_file():
        raise NatmodError(f"natmod: {src} has no py/dynruntime.mk")
    (tree / ".prepared").touch()
    return tree


MAKEFILE = """\
MPY_DIR = {mpy_dir}
MOD = {mod}
SRC = {src}
ARCH = {arch}
include $(MPY_DIR)/py/dynruntime.mk
"""


def build_key(arch: str, mp_key: str) -> str:
    h = hashlib.sha256(f"{arch}\0{mp_key}\0{cflags(arch)}\0{MAKEFILE}".encode())
    for name in (*SOURCES, *HEADERS):
        h.update(name.encode() + b"\0" + (SRC_DIR / name).read_bytes())
    cc = compiler(arch)
    version = subprocess.run([cc or "gcc", "--version"], capture_output=True, text=True).stdout
    h.update(version.encode())
    return h.hexdigest()


def build_one(arch: str, mp_tree: Path, mp_key: str, force: bool = False, log=print) -> Path:
    out = output(arch)
    info_path = out.parent / "build.json"
    key = build_key(arch, mp_key)
    if not force and out.is_file() and info_path.is_file():
        try:
            if json.loads(info_path.read_text()).get("key") == key:
                log(f"natmod {arch}: up to date ({key[:12]}), {out.stat().st_size} bytes")
                return out
        except ValueError:
            pass
    work = out.parent / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in (*SOURCES, *HEADERS):
        shutil.copyfile(SRC_DIR / name, work / name)
    (work / "Makefile").write_text(MAKEFILE.format(mpy_dir=mp_tree.resolve(), mod=MOD,
                                                  src=" ".join(SOURCES), arch=arch))
    cmd = ["make", f"PYTHON={sys.executable}", f"CFLAGS_EXTRA={cflags(arch)}"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NatmodError(f"natmod {arch}: build failed:\n"
                          f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    shutil.copyfile(work / f"{MOD}.mpy", out)
    info_path.write_text(json.dumps({"key": key, "arch": arch, "bytes": out.stat().st_size},
                                    indent=1) + "\n")
    log(f"natmod {arch}: built {out.relative_to(REPO)}, {out.stat().st_size} bytes")
    return out


def build(archs: tuple[str, ...] | list[str] = ARCHS, force: bool = False,
          log=print) -> dict[str, Path | str]:
    """Build each arch (or find it up to date): arch -> the .mpy, or why not (a line)."""
    res: dict[str, Path | str] = {}
    todo = []
    for arch in archs:
        why = missing(arch)
        if why:
            res[arch] = why
        else:
            todo.append(arch)
    if not todo:
        return res
    src = micropython_source()
    mp_key = _hash_source(src)
    mp_tree = prepare_micropython(src, mp_key, log)
    for arch in todo:
        res[arch] = build_one(arch, mp_tree, mp_key, force, log)
    return res


def for_board(arch: str, log=print) -> Path | None:
    """The module to ship to a board of this mpy-cross arch, built if needed;
    None (after a line saying why) where there is none: the viper code runs."""
    try:
        res = build([arch], log=log)[arch]
    except NatmodError as e:
        log(str(e).splitlines()[0] + f": {arch} keeps the viper X25519")
        return None
    if isinstance(res, str):
        log(res)
        return None
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=ARCHS,
                        help="build only this architecture (repeatable; default: all)")
    parser.add_argument("--src", help="MicroPython v1.28.0 tarball or checkout "
                        "(default: MICROPYTHON_SRC, else shared/third_party/)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    if args.src:
        os.environ["MICROPYTHON_SRC"] = args.src
    try:
        res = build(args.arch or ARCHS, force=args.force)
    except NatmodError as e:
        print(e, file=sys.stderr)
        return 1
    for r in res.values():
        if isinstance(r, str):
            print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
