"""tools/emubuild.py (`make emu`) without building: what it needs, what it
copies and patches, what its cache key covers. The build itself runs in the
emu_image fixture (tests/conftest.py) of the emulated-board tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hostkit import REPO

import emubuild


def test_without_the_debian_packages_it_stops_with_one_line_naming_them(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    env = dict(os.environ, PATH=str(tmp_path / "bin"))  # nothing on PATH: no gcc, no qemu
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "emubuild.py")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for pkg in ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm"):
        assert pkg in lines[0]
    assert not proc.stdout


def _tarball() -> Path:
    src = emubuild.default_source()
    if src is None:
        pytest.skip(f"no {emubuild.TARBALL_NAME} in shared/third_party/ beside the checkout")
    return src


def test_a_checkout_is_copied_and_patched_never_changed(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with tarfile.open(_tarball()) as tar:
        try:
            tar.extractall(tmp_path / "user", filter="data")
        except TypeError:  # Python before 3.10.12 / 3.11.4: no extraction filters
            tar.extractall(tmp_path / "user")
    checkout = next((tmp_path / "user").iterdir())
    port = checkout / "ports" / "qemu"
    before = {p: (port / p).read_bytes() for p in ("mpconfigport.h", "main.c", "modmachine.c")}
    monkeypatch.setattr(emubuild, "BUILD", tmp_path / "build")
    top = emubuild.prepare_sources(checkout, emubuild.source_key(checkout), log=lambda _s: None)
    assert top.is_relative_to(tmp_path / "build")
    for name, text in before.items():
        assert (port / name).read_bytes() == text  # the user's tree is untouched
    conf = (top / "ports" / "qemu" / "mpconfigport.h").read_text()
    assert "#define MICROPY_PY_ASYNCIO          (1)" in conf
    main = (top / "ports" / "qemu" / "main.c").read_text()
    assert 'pyexec_frozen_module("_boot.py"' in main and 'pyexec_file_if_exists("main.py")' in main
    assert (top / "lib" / "axtls" / "crypto" / "aes.c").is_file()
    # a tree that is not v1.28.0's qemu port is refused, not half-patched
    (port / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(emubuild.BuildError, match="cannot patch ports/qemu/main.c"):
        emubuild.prepare_sources(checkout, "f" * 64, log=lambda _s: None)


def test_the_cache_key_covers_every_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if emubuild.missing_packages():
        pytest.skip(emubuild.packages_line(emubuild.missing_packages()))
    base = emubuild.image_key("src")
    assert emubuild.image_key("src") == base
    assert emubuild.image_key("other sources") != base
    manifest = tmp_path / "manifest.py"
    manifest.write_text(emubuild.MANIFEST.read_text() + "\n# changed\n")
    monkeypatch.setattr(emubuild, "MANIFEST", manifest)
    assert emubuild.image_key("src") != base
    monkeypatch.setattr(emubuild, "MANIFEST", REPO / "boards" / "qemu_mps2_an385" / "manifest.py")
    monkeypatch.setattr(emubuild, "FROZEN_ARCH", "armv7m")  # a flag
    assert emubuild.image_key("src") != base


def test_frozen_armv6m_native_code_is_word_aligned(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the armv6m emitter's `ldr rX, [pc, #0]` constants are right only on a word
    # aligned code start: the patched mpy-tool.py asks for 4, and every build checks it
    with tarfile.open(_tarball()) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/tools/mpy-tool.py"))
        stock = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    _rel, pattern, repl = next(p for p in emubuild.PATCHES if p[0] == "tools/mpy-tool.py")
    patched, n = re.subn(pattern, repl, stock)
    assert n == 1

    def four_byte_archs(text: str) -> str:  # the arch list that gets aligned (4)
        return text[text.index("MP_NATIVE_ARCH_ARMV6,"):text.index("aligned (4)")]

    assert "ARMV6M" not in four_byte_archs(stock)  # v1.28.0: 2-byte aligned
    assert "MP_NATIVE_ARCH_ARMV6M," in four_byte_archs(patched)
    # the check after the build: names from frozen_content.c, addresses from nm
    frozen = tmp_path / "frozen_content.c"
    frozen.write_text("// frozen native code for file a/_x.py, scope a__x_f\n"
                      "// frozen native code for file a/_x.py, scope a__x_f2\n"
                      "// frozen bytecode for file a/_x.py, scope a__x_g\n")

    def nm(addr2: int) -> Any:
        out = (f"0001d97c t fun_data_a__x_f\n{addr2:08x} t fun_data_a__x_f2\n"
               "00040719 t fun_data_a__x_g\n")
        return lambda *a, **k: subprocess.CompletedProcess(a, 0, out, "")

    monkeypatch.setattr(emubuild.subprocess, "run", nm(0x1CC28))
    assert emubuild.check_native_alignment(frozen, tmp_path / "firmware.elf") == 2
    monkeypatch.setattr(emubuild.subprocess, "run", nm(0x1D97A))  # v1.28.0's _ccm.seal
    with pytest.raises(emubuild.BuildError, match="fun_data_a__x_f2 at 0x1d97a"):
        emubuild.check_native_alignment(frozen, tmp_path / "firmware.elf")


def test_the_built_image_has_its_native_code_word_aligned(emu_image: Path) -> None:
    info = json.loads((emu_image.parent / "image.json").read_text())
    assert info["frozen_native_functions"] >= 10  # _ccm, _crc, _fe25519, _hs, _sha512
    frozen = next(emubuild.BUILD.glob(f"src-*/*/ports/qemu/build-{emubuild.MP_BOARD}/"
                                      "frozen_content.c"))
    code = emubuild.frozen_native_code(frozen, emu_image)
    assert len(code) == info["frozen_native_functions"]
    assert all(addr % 4 == 0 for addr in code.values()), code
