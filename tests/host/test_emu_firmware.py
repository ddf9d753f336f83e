"""The firmware test modules of tests/firmware/ on the emulated board (make emu).

MicroPython v1.28.0 on QEMU's Cortex-M3 (tools/emuboard.py), with ``ephkey``
compiled for armv6m, the RP2040's instruction set, and frozen into the image
as a board's manifest.py freezes it (boards/qemu_mps2_an385/manifest.py);
the test modules are armv6m .mpy files on the board's flash, so every test's
code and data live in the board's own 140 KiB heap; viper code runs as Thumb
code, ints are 31-bit small ints. (Loaded as .mpy from flash, ephkey's code
alone would take some 85 KB of that heap: tests/host/test_emu_link.py runs
the firmware that way, as tools/deploy.py installs it.)

One pytest item per module, as tests/test_firmware_under_micropython.py does
for the unix port: a fresh board boots, its main.py runs the module with
tests/firmware/mpunit.py and ends the emulator, also when the module fails to
import. The boards run two at a time (the machine has 2 cores). A test that
cannot fit in the board's heap is a stated skip (SKIPS: the test and why),
counted and printed in the summary; a stated skip that names no existing test
fails.

Skipped, saying why, without the Debian packages or MicroPython's sources.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hostkit import REPO

import deploy
import emuboard
import natmod

pytestmark = pytest.mark.timeout(600)

FIRMWARE_TESTS = REPO / "tests" / "firmware"
MODULES = sorted(p.stem for p in FIRMWARE_TESTS.glob("test_*.py"))
MODULE_TIMEOUT = 150  # the slowest module takes about 20 s on an idle machine
SLOW_FIRST = ("test_ble_link", "test_x25519", "test_link", "test_watchdog", "test_soak")
FLASH_KIB = 2048  # the vectors (0.45 MB) with the package and the tests

SKIPS: dict[str, str] = {
    "test_vectors.test_negative_vectors_rejected_with_their_code_and_change_nothing":
        "loads tests/vectors/negative.json whole (66 KB of JSON, several times that parsed)",
    "test_crypto.test_ccm_takes_the_longest_short_form_aad":
        "CCM over 0xFEFF bytes of associated data holds them and the MAC input built from "
        "them at once: two 64 KiB buffers, on a 140 KiB heap",
}

SUMMARY = re.compile(r"^mpunit: (\d+) passed, (\d+) failed under (\S+).*?(?:\((\d+) skipped\))?$")
HEAP = re.compile(r"^EMU-HEAP free=(\d+)")

MAIN = """\
import gc
import sys
import emu
gc.collect()
print("EMU-HEAP free=%d" % gc.mem_free())
try:
    import mpunit
    code = mpunit.main([{module!r}], {skips!r})
except BaseException as e:  # e.g. the module does not import: say so and end the board
    sys.print_exception(e)
    code = 3
emu.exit(code)
"""


def _compile(src: Path, dst: Path) -> None:
    tool = deploy.find_tool("mpy-cross", "MPY_CROSS")
    proc = subprocess.run([*tool, "-march=armv6m", "-s", src.name, "-o", str(dst), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"mpy-cross {src.name}: {proc.stderr}"


@pytest.fixture(scope="session")
def board_tree(emu_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What every board's flash holds: the tests as armv6m .mpy, the vectors, the board
    files (ephkey is the image's, frozen)."""
    tree = tmp_path_factory.mktemp("emu-fw") / "common"
    tree.mkdir()
    native = natmod.for_board("armv6m", log=lambda _line: None)  # the native X25519
    if native is not None:  # (test_x25519 then runs both implementations)
        shutil.copyfile(native, tree / native.name)
    for src in sorted(FIRMWARE_TESTS.glob("*.py")):
        _compile(src, tree / (src.stem + ".mpy"))
    shutil.copytree(REPO / "tests" / "vectors", tree / "tests" / "vectors",
                    ignore=shutil.ignore_patterns("*.md"))
    # the shipped board files some tests check, and /tmp for their scratch files,
    # at the paths they have from the repository's root on the unix port
    for board in sorted((REPO / "boards").glob("*/board.json")):
        (tree / "boards" / board.parent.name).mkdir(parents=True)
        shutil.copyfile(board, tree / "boards" / board.parent.name / "board.json")
    (tree / "tmp").mkdir()
    return tree


class _Runs:
    """Every module's board run, two at a time, started when the first item asks."""

    def __init__(self, tree: Path, elf: Path) -> None:
        self.tree = tree
        self.elf = elf
        self.pool = ThreadPoolExecutor(max_workers=2)
        # the longest first (test_ble_link's exchanges run in real time, some 20 s), so
        # that the other board runs the rest beside it
        order = sorted(MODULES, key=lambda m: (m not in SLOW_FIRST, SLOW_FIRST.index(m)
                                               if m in SLOW_FIRST else 0, m))
        self.futures: dict[str, Future[emuboard.Run]] = {
            m: self.pool.submit(self._run, m) for m in order}

    def _run(self, module: str) -> emuboard.Run:
        tree = self.tree.parent / module
        shutil.copytree(self.tree, tree, copy_function=os.link)
        skips = {k: v for k, v in SKIPS.items() if k.startswith(module + ".")}
        (tree / "main.py").write_text(MAIN.format(module=module, skips=skips))
        try:
            return emuboard.run(tree, timeout=MODULE_TIMEOUT, elf=self.elf, flash_kib=FLASH_KIB)
        finally:
            shutil.rmtree(tree, ignore_errors=True)


@pytest.fixture(scope="session")
def board_runs(board_tree: Path, emu_image: Path) -> Any:
    runs = _Runs(board_tree, emu_image)
    yield runs.futures
    runs.pool.shutdown(cancel_futures=True)


def test_stated_skips_name_existing_tests() -> None:
    for key in SKIPS:
        module, test = key.split(".")
        text = (FIRMWARE_TESTS / f"{module}.py").read_text()
        assert f"def {test}(" in text, f"SKIPS names {key}, which does not exist"
    # issue 9: at most 5 tests that cannot fit (so at most 5 reasons, 5 modules too)
    assert len(SKIPS) <= 5, "at most 5 tests that cannot fit on the board"


@pytest.mark.parametrize("module", MODULES)
def test_module_on_the_emulated_board(module: str, board_runs: dict[str, Future[emuboard.Run]],
                                      emu_results: dict[str, Any]) -> None:
    r = board_runs[module].result()
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    where = f"--- board console ({r.seconds:.1f} s, exit {r.status}) ---\n{r.output[-6000:]}"
    if r.status is None:
        pytest.fail(f"{module}: no result after {MODULE_TIMEOUT} s on the board\n{where}",
                    pytrace=False)
    m = SUMMARY.match(lines[-1].strip()) if lines else None
    if m is None:
        emu_results["modules"][module] = (0, 1, 0)
        pytest.fail(f"{module}: no `mpunit: N passed, M failed` line\n{where}", pytrace=False)
    passed, failed, impl = int(m.group(1)), int(m.group(2)), m.group(3)
    skipped = int(m.group(4) or 0)
    emu_results["modules"][module] = (passed, failed, skipped)
    stated = {k: v for k, v in SKIPS.items() if k.startswith(module + ".")}
    said = {ln.split()[1] for ln in lines if ln.startswith("SKIP ")}
    for key in said:
        emu_results["skips"][key] = SKIPS[key]
    if r.status != 0 or failed or passed == 0 or impl != "micropython":
        pytest.fail(f"{module}: {passed} passed, {failed} failed on the emulated board\n{where}",
                    pytrace=False)
    assert said == set(stated) and skipped == len(stated), (said, stated)
    heap = [int(h.group(1)) for ln in lines if (h := HEAP.match(ln))]
    assert heap and heap[0] > 100_000, f"heap at start {heap}: not the board's own?\n{where}"
    if module == "test_x25519" and natmod.built("armv6m"):
        assert "x25519: native" in r.output, f"the native module was not used\n{where}"


FAULT = """\
import machine
import micropython
machine.mem32[0xE000ED14] |= 8  # CCR.UNALIGN_TRP: an unaligned word access faults


@micropython.viper
def unaligned(b) -> int:
    return ptr32(int(ptr8(b)) + 1)[0]


print("FAULT-NEXT")
unaligned(bytearray(8))
print("FAULT-MISSED")
"""


def test_a_fault_ends_the_board_at_once(emu_image: Path, tmp_path: Path) -> None:
    # a HardFault prints the registers and ends QEMU: a run never waits for its timeout
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "main.py").write_text(FAULT)
    r = emuboard.run(tmp_path / "tree", timeout=60, elf=emu_image)
    assert r.status == 1 and r.seconds < 30, (r.status, r.seconds, r.output[-2000:])
    assert "FAULT-NEXT" in r.output and "HardFault exception caught" in r.output
    assert "CFSR.UNALIGNED:  1" in r.output and "FAULT-MISSED" not in r.output
