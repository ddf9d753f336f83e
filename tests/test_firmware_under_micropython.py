"""Bridge: run every tests/firmware/test_*.py module inside the MicroPython VM.

One pytest item per module runs, from the repository root,

    MICROPYPATH=firmware:tests/firmware:.frozen <micropython> tests/firmware/mpunit.py <module>

and passes when the runner exits 0 and its last line reads
``mpunit: N passed, 0 failed under micropython ...`` with N > 0. ``.frozen``
keeps the VM's frozen modules (asyncio) importable, as on a board.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_TESTS = REPO_ROOT / "tests" / "firmware"
RUNNER = "tests/firmware/mpunit.py"
MICROPYPATH = "firmware:tests/firmware:.frozen"
MODULE_TIMEOUT = 280  # seconds; below pytest-timeout's 300 so the output is still shown

SUMMARY = re.compile(r"^mpunit: (\d+) passed, (\d+) failed under (\S+)")

MODULES = sorted(p.stem for p in FIRMWARE_TESTS.glob("test_*.py"))


def run_mpunit(
    micropython: str, modules: list[str], micropypath: str, cwd: Path
) -> tuple[int, str]:
    """Run the runner on `modules`; return (exit code, stdout+stderr)."""
    env = dict(os.environ, MICROPYPATH=micropypath)
    try:
        proc = subprocess.run(
            [micropython, RUNNER, *modules],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=MODULE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(
            "utf-8", "replace"
        )
        pytest.fail(
            f"{' '.join(modules)}: no result after {MODULE_TIMEOUT} s under MicroPython\n"
            f"--- output so far ---\n{out}",
            pytrace=False,
        )
    return proc.returncode, proc.stdout


def parse_summary(output: str) -> tuple[int, int, str] | None:
    """(passed, failed, implementation) from the runner's last line, or None."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return None
    m = SUMMARY.match(lines[-1].strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3)


def _module_params() -> list[object]:
    if MODULES:
        return list(MODULES)
    return [pytest.param(None, marks=pytest.mark.skip(reason="no tests/firmware/test_*.py yet"))]


@pytest.mark.parametrize("module", _module_params())
def test_firmware_module(
    module: str,
    micropython_bin: str,
    repo_root: Path,
    firmware_results: dict[str, tuple[int, int]],
) -> None:
    code, out = run_mpunit(micropython_bin, [module], MICROPYPATH, repo_root)
    summary = parse_summary(out)
    if summary is not None:
        firmware_results[module] = summary[:2]
    else:
        firmware_results[module] = (0, 1)  # crashed before its summary: count as a failure
    where = f"MICROPYPATH={MICROPYPATH} {micropython_bin} {RUNNER} {module}"
    if summary is None:
        pytest.fail(
            f"{module}: no `mpunit: N passed, M failed` line (exit {code})\n"
            f"$ {where}\n--- output ---\n{out}",
            pytrace=False,
        )
    passed, failed, impl = summary
    if code != 0 or failed or passed == 0 or impl != "micropython":
        pytest.fail(
            f"{module}: {passed} passed, {failed} failed under {impl} (exit {code})\n"
            f"$ {where}\n--- output ---\n{out}",
            pytrace=False,
        )


def test_bridge_reports_failures(micropython_bin: str, repo_root: Path, tmp_path: Path) -> None:
    """The runner and this bridge see a failing firmware test, and count under MicroPython."""
    (tmp_path / "bridge_probe.py").write_text(
        "import sys\n"
        "def test_is_micropython():\n"
        "    assert sys.implementation.name == 'micropython'\n"
        "def test_fails():\n"
        "    assert 1 == 2, 'expected failure'\n"
    )
    code, out = run_mpunit(micropython_bin, ["bridge_probe"], str(tmp_path), repo_root)
    assert parse_summary(out) == (1, 1, "micropython"), out
    assert code != 0, out
    assert "FAIL bridge_probe.test_fails" in out, out

    (tmp_path / "bridge_empty.py").write_text("X = 1\n")
    code, out = run_mpunit(micropython_bin, ["bridge_empty"], str(tmp_path), repo_root)
    assert parse_summary(out) == (0, 0, "micropython"), out
    assert code != 0, "a module with no tests must not pass"
