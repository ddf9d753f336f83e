"""The native X25519 module for the tests (make natmod; not a test module).

:func:`natmod_dir` builds it for an architecture (tools/natmod.py: cached, so
only the first test of a run may wait a few seconds) and returns the folder
that holds ``_ephkey_x25519.mpy``, to put on MicroPython's path; the test
skips, saying why, where it cannot be built (no compiler, no MicroPython
sources), as the emulated board's tests do.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import natmod

_LOCK = threading.Lock()


def natmod_dir(arch: str) -> Path:
    with _LOCK:
        why = natmod.missing(arch)
        if why:
            pytest.skip(why)
        try:
            res = natmod.build([arch], log=lambda _line: None)[arch]
        except natmod.NatmodError as e:
            if "no MicroPython sources" in str(e):
                pytest.skip(str(e))
            pytest.fail(str(e), pytrace=False)
    if isinstance(res, str):
        pytest.skip(res)
    return res.parent
