"""tools/emubuild.py (`make emu`) without building: what it needs, what it
copies and patches, what its cache key covers. The build itself runs in the
emu_image fixture (tests/conftest.py) of the emulated-board tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

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
