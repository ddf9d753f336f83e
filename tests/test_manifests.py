"""Every boards/*/manifest.py freezes, with MicroPython's own tools.

For each board, MicroPython's ``tools/makemanifest.py`` runs the manifest as
the port's build would (same variables, the ``mpy-cross`` flags that port
passes), compiles every file with that source tree's own ``mpy-cross`` and
freezes the result with ``tools/mpy-tool.py``. This catches what
tests/test_mpy_cross.py cannot: a manifest that does not execute, a
``require()`` that micropython-lib does not have, and viper code frozen
without ``-march`` (the unix port passes none: its manifest documents the
flag to add).

MicroPython sources: ``MICROPYTHON_SRC`` (a checkout, with
``lib/micropython-lib``), else the release tarball the project keeps next to
its checkout (``../shared/third_party/micropython-*-src.tar.xz``, also looked
for from the checkout's parents; unpacked once into ``build/``), else the
tests skip and say so. Includes of port files that the sources do not hold
(the tarball carries no rp2, esp32, stm32 or unix port) are replaced by empty
manifests, named in the test's output; with a full checkout the ports' real
manifests run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BOARDS = REPO_ROOT / "boards"
FIRMWARE_PKG = REPO_ROOT / "firmware" / "ephkey"
CACHE = REPO_ROOT / "build" / "micropython-src"


def _tarballs() -> list[Path]:
    """The project's third-party folder sits next to its checkout: ../shared/third_party
    (looked up from the parents too, so that a git worktree further down finds it)."""
    for parent in list(REPO_ROOT.parents)[:3]:
        found = sorted((parent / "shared" / "third_party").glob("micropython-*-src.tar.xz"))
        if found:
            return found
    return []


# The mpy-cross flags each port's build passes when it freezes (MicroPython v1.28.0):
#   rp2:   ports/rp2/CMakeLists.txt, by PICO_PLATFORM: rp2040 -march=armv6m,
#          rp2350-arm-s -march=armv7m
#   esp32: ports/esp32/esp32_common.cmake: -march=xtensawin on the ESP32 (Xtensa LX6)
#   stm32: ports/stm32/Makefile: -march=$(MPY_CROSS_MCU_ARCH_f7) = armv7emdp on an F767
#   unix:  ports/unix/Makefile passes none; viper code then fails ("invalid arch"),
#          so boards/unix/manifest.py asks for MPY_CROSS_FLAGS=-march=x64
#   qemu:  ports/qemu/boards/<BOARD>/mpconfigboard.mk (read from the sources)
FREEZE_FLAGS = {
    ("rp2", "RP2040"): "-march=armv6m",
    ("rp2", "RP2350"): "-march=armv7m",
    ("esp32", "ESP32"): "-march=xtensawin",
    ("stm32", "STM32F767"): "-march=armv7emdp",
}
UNIX_FLAGS = "-march=x64"

TIMEOUT = 600


def _manifests() -> list[Path]:
    return sorted(BOARDS.glob("*/manifest.py"))


def _extract(tarball: Path) -> Path:
    """Unpack the tarball into build/ once (a stamp names what was unpacked)."""
    stamp = CACHE / ".unpacked"
    tag = "%s %d %d" % (tarball.name, tarball.stat().st_size, int(tarball.stat().st_mtime))
    top = tarball.name[: -len("-src.tar.xz")]
    root = CACHE / top
    if stamp.exists() and stamp.read_text() == tag and (root / "tools").is_dir():
        return root
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    with tarfile.open(tarball) as tf:
        if sys.version_info >= (3, 12):
            tf.extractall(CACHE, filter="data")
        else:
            tf.extractall(CACHE)  # noqa: S202 - the project's own pinned tarball
    stamp.write_text(tag)
    return root


@pytest.fixture(scope="module")
def mp_src() -> Path:
    env = os.environ.get("MICROPYTHON_SRC", "").strip()
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / "tools" / "makemanifest.py").exists():
            pytest.fail(f"MICROPYTHON_SRC={env}: no tools/makemanifest.py there", pytrace=False)
        return root
    tarballs = _tarballs()
    if not tarballs:
        pytest.skip(
            "no MicroPython sources: set MICROPYTHON_SRC to a MicroPython checkout "
            "(v1.28.0 or later, with lib/micropython-lib) to check the board manifests"
        )
    return _extract(tarballs[-1])


@pytest.fixture(scope="module")
def mpy_cross_bin(mp_src: Path) -> Path:
    """That tree's own mpy-cross (its build also makes the qstr header mpy-tool reads)."""
    binary = mp_src / "mpy-cross" / "build" / "mpy-cross"
    header = mp_src / "mpy-cross" / "build" / "genhdr" / "qstrdefs.preprocessed.h"
    if binary.exists() and header.exists():
        return binary
    if not shutil.which("make") or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip(f"building {mp_src.name}'s mpy-cross needs make and a C compiler")
    proc = subprocess.run(
        ["make", "-C", str(mp_src / "mpy-cross"), "-j2"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    if proc.returncode != 0 or not binary.exists():
        pytest.fail("building mpy-cross failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:],
                    pytrace=False)
    return binary


def _board(manifest: Path) -> dict:
    return json.loads((manifest.parent / "board.json").read_text())


def _flags(mp_src: Path, board: dict, manifest: Path) -> str:
    port = board["port"]
    if port == "unix":
        # the unix port passes no -march: the manifest must tell the builder
        assert "MPY_CROSS_FLAGS=" + UNIX_FLAGS in manifest.read_text(), (
            f"{manifest.relative_to(REPO_ROOT)} must document MPY_CROSS_FLAGS={UNIX_FLAGS}")
        return UNIX_FLAGS
    key = (port, board.get("mcu", "").split()[0])
    if key in FREEZE_FLAGS:
        return FREEZE_FLAGS[key]
    boards_dir = mp_src / "ports" / port / "boards"
    mk = boards_dir / board.get("micropython_board", "?") / "mpconfigboard.mk"
    if mk.exists():
        m = re.search(r"^MPY_CROSS_FLAGS\s*\+?=\s*(.+)$", mk.read_text(), re.M)
        if m:
            return m.group(1).strip()
    return "-march=" + board["arch"]


def _port_dirs(mp_src: Path, board: dict, manifest: Path,
               tmp: Path) -> tuple[Path, Path, list[str]]:
    """PORT_DIR and BOARD_DIR; stand-in empty manifests where the sources have none."""
    port_dir = mp_src / "ports" / board["port"]
    board_name = board.get("micropython_board", "").split()[0]
    board_dir = port_dir / "boards" / board_name
    stubbed: list[str] = []
    if not port_dir.is_dir():
        port_dir = tmp / "ports" / board["port"]
        board_dir = port_dir / "boards" / board_name
        includes = r'include\("\$\((PORT_DIR|BOARD_DIR)\)/([^"]+)"\)'
        for m in re.finditer(includes, manifest.read_text()):
            base = port_dir if m.group(1) == "PORT_DIR" else board_dir
            path = base / m.group(2)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# stand-in: the MicroPython sources used here have no such port\n")
            stubbed.append("$(%s)/%s" % (m.group(1), m.group(2)))
        board_dir.mkdir(parents=True, exist_ok=True)
    return port_dir, board_dir, stubbed


def _freeze(mp_src: Path, mpy_cross_bin: Path, manifest: Path, flags: str,
            tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path, list[str]]:
    """Run makemanifest.py as the port's build does; (process, frozen .c, stand-ins)."""
    board = _board(manifest)
    port_dir, board_dir, stubbed = _port_dirs(mp_src, board, manifest, tmp_path)
    build = tmp_path / "build"
    (build / "genhdr").mkdir(parents=True)
    shutil.copy(mpy_cross_bin.parent / "genhdr" / "qstrdefs.preprocessed.h", build / "genhdr")
    out = build / "frozen_content.c"
    cmd = [
        sys.executable, str(mp_src / "tools" / "makemanifest.py"),
        "-o", str(out), "-b", str(build),
        "-v", "MPY_DIR=%s" % mp_src,
        "-v", "MPY_LIB_DIR=%s" % (mp_src / "lib" / "micropython-lib"),
        "-v", "PORT_DIR=%s" % port_dir,
        "-v", "BOARD_DIR=%s" % board_dir,
        str(manifest),
    ]
    if flags:
        cmd[4:4] = ["-f" + flags]
    env = dict(os.environ, MICROPY_MPYCROSS=str(mpy_cross_bin))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    return proc, out, stubbed


@pytest.mark.parametrize("manifest", _manifests(), ids=[m.parent.name for m in _manifests()])
def test_manifest_freezes(manifest: Path, mp_src: Path, mpy_cross_bin: Path,
                          tmp_path: Path) -> None:
    board = _board(manifest)
    flags = _flags(mp_src, board, manifest)
    proc, out, stubbed = _freeze(mp_src, mpy_cross_bin, manifest, flags, tmp_path)
    print(f"{manifest.parent.name}: {mp_src.name}, mpy-cross {flags}"
          + (f", stand-in port manifests: {', '.join(stubbed)}" if stubbed else ""))
    log = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and out.exists(), (
        f"makemanifest.py failed for {manifest.relative_to(REPO_ROOT)} "
        f"(mpy-cross {flags}):\n{log[-4000:]}")
    frozen = out.read_text()
    expected = sorted(p.name for p in FIRMWARE_PKG.glob("*.py"))
    missing = [f for f in expected if "ephkey/%s" % f not in frozen]
    assert not missing, f"not frozen: {missing}"
    if board["port"] in ("rp2", "esp32", "stm32"):
        # every board with bluetooth can be switched to BLE: the aioble parts ble_link uses
        for mod in ("aioble/__init__.py", "aioble/peripheral.py", "aioble/server.py",
                    "aioble/central.py", "aioble/client.py"):
            assert mod in frozen, f"{mod} not frozen for {manifest.parent.name}"


def test_unix_port_needs_the_documented_march(mp_src: Path, mpy_cross_bin: Path,
                                              tmp_path: Path) -> None:
    """Why boards/unix/manifest.py asks for MPY_CROSS_FLAGS: without it (what the unix
    port's Makefile passes) mpy-cross refuses the viper modules."""
    proc, out, _ = _freeze(mp_src, mpy_cross_bin, BOARDS / "unix" / "manifest.py", "", tmp_path)
    assert proc.returncode != 0 and "invalid arch" in proc.stdout + proc.stderr, (
        "the unix port now freezes viper code without -march: the MPY_CROSS_FLAGS note in "
        "boards/unix/manifest.py may go")


def _native_alignments(frozen_c: str) -> dict[str, int]:
    """ephkey's frozen native (viper) functions -> the alignment mpy-tool gave them."""
    found = re.findall(r"static const byte fun_data_(ephkey_\w+)\[\d+\] [^\n]*"
                       r"__attribute__ \(\(aligned \((\d)\)\)\)", frozen_c)
    return {name: int(align) for name, align in found}


def _patched_tree(mp_src: Path, tmp: Path) -> Path:
    """mp_src with tools/mpy-tool.py patched as tools/emubuild.py patches it (the
    README's instruction to RP2040 image builders); the rest linked, not copied."""
    import emubuild

    tree = tmp / "mp-patched"
    tree.mkdir()
    for entry in mp_src.iterdir():
        if entry.name != "tools":
            (tree / entry.name).symlink_to(entry)
    shutil.copytree(mp_src / "tools", tree / "tools")
    rel, pattern, repl = next(p for p in emubuild.PATCHES if p[0] == "tools/mpy-tool.py")
    tool = tree / rel
    text, n = re.subn(pattern, repl.replace("\\", "\\\\"), tool.read_text())
    assert n == 1, f"the mpy-tool.py patch no longer applies to {mp_src.name}"
    tool.write_text(text)
    return tree


def test_rp2040_viper_code_is_word_aligned_only_with_the_documented_patch(
        mp_src: Path, mpy_cross_bin: Path, tmp_path: Path) -> None:
    """Why the README tells RP2040 image builders to patch mpy-tool.py: frozen
    as the rp2 port freezes it (armv6m), ephkey's viper functions get 2-byte
    alignment, which breaks their PC-relative constant loads; with the patch,
    every one gets 4."""
    manifest = BOARDS / "rpi_pico_w" / "manifest.py"
    flags = _flags(mp_src, _board(manifest), manifest)
    assert flags == "-march=armv6m"
    proc, out, _ = _freeze(mp_src, mpy_cross_bin, manifest, flags, tmp_path / "plain")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    plain = _native_alignments(out.read_text())
    assert plain and set(plain.values()) == {2}, (
        f"{mp_src.name} no longer freezes armv6m code 2-byte aligned: the README's "
        f"mpy-tool.py patch for RP2040 images may go ({plain})")
    proc, out, _ = _freeze(_patched_tree(mp_src, tmp_path), mpy_cross_bin, manifest, flags,
                           tmp_path / "patched")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    patched = _native_alignments(out.read_text())
    assert patched.keys() == plain.keys() and set(patched.values()) == {4}, patched
    # the viper modules the README names are among them
    for mod in ("_ccm", "_crc", "_fe25519", "_sha512", "_hs"):
        assert any(name.startswith(f"ephkey_{mod}_") for name in patched), (mod, sorted(patched))
