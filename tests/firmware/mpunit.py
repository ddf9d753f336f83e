"""A tiny test runner that runs inside MicroPython (unix port).

Usage: micropython tests/firmware/mpunit.py test_module [test_module ...]
with MICROPYPATH=firmware:tests/firmware. Every function whose name starts
with ``test_`` is called; a test passes when it returns, and fails on any
exception (``AssertionError`` included). The last line is the summary the
pytest bridge (tests/test_firmware_under_micropython.py) parses.
"""

import gc
import sys


def _fresh_state():
    """Between tests: an empty asyncio event loop and a collected heap. MicroPython's
    asyncio.run() leaves the tasks it did not await in the loop's queue; they would
    keep a test's stations alive (some 30 KB a test on the 140 KiB board) and run
    inside the next test."""
    aio = sys.modules.get("asyncio")
    if aio is not None and hasattr(aio, "new_event_loop"):
        aio.new_event_loop()
    gc.collect()


def raises(exc, fn, *args):
    """fn(*args) must raise ``exc``: its message, for tests that check it."""
    try:
        fn(*args)
    except exc as e:
        return str(e)
    raise AssertionError("no %s" % exc.__name__)


def run_module(name, skip=None):
    """(passed, failed, skipped); ``skip`` maps "module.test" to the reason a
    board cannot run it (stated skips of tests/host/test_emu_firmware.py)."""
    mod = __import__(name)
    passed = failed = skipped = 0
    for attr in sorted(dir(mod)):
        if not attr.startswith("test_"):
            continue
        if skip and name + "." + attr in skip:
            skipped += 1
            print("SKIP", name + "." + attr, "--", skip[name + "." + attr])
            continue
        fn = getattr(mod, attr)
        _fresh_state()
        try:
            fn()
        except Exception as e:  # report every failure, keep going
            failed += 1
            print("FAIL", name + "." + attr)
            sys.print_exception(e)
        else:
            passed += 1
            print("PASS", name + "." + attr)
    return passed, failed, skipped


def main(argv, skip=None):
    passed = failed = skipped = 0
    for name in argv:
        p, f, k = run_module(name, skip)
        passed += p
        failed += f
        skipped += k
    print("mpunit: %d passed, %d failed under %s %s%s" % (
        passed, failed, sys.implementation.name, sys.version,
        " (%d skipped)" % skipped if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
