"""firmware/ephkey/_fe25519.py is tools/gen_fe25519.py's output, and that
script's bound check (no value of any field operation can reach 2**31) holds
for the committed limb bounds and fails for wider ones."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_fe25519_under_test", REPO_ROOT / "tools" / "gen_fe25519.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_committed_module_is_the_generators_output() -> None:
    gen = load_generator()
    committed = (REPO_ROOT / "firmware" / "ephkey" / "_fe25519.py").read_text()
    assert committed == gen.generate(), "run: python tools/gen_fe25519.py"


def test_bound_check_refuses_limbs_that_could_overflow_32_bits() -> None:
    gen = load_generator()
    gen.bound_all()  # the committed bounds pass
    # 20 * (2**13 + 2)**2 is about 1.34e9; with limbs of 2**14 a column of the
    # product reaches 20 * 2**28 > 2**31 and the generator must refuse.
    gen.LIMB_MAX = 1 << 14
    with pytest.raises(SystemExit, match="2\\*\\*31"):
        gen.bound_all()


def test_bound_check_refuses_outputs_above_the_promised_limb_bound() -> None:
    gen = load_generator()
    gen.LIMB_MAX = 8191  # a carry can leave limb 2 at 8192 or 8193
    with pytest.raises(SystemExit, match="LIMB_MAX"):
        gen.bound_all()


def test_field_constants() -> None:
    gen = load_generator()
    assert gen.FOLD == 608 and pow(2, 260, gen.P) == 608
    assert sum(q << (13 * i) for i, q in enumerate(gen.Q64P)) == 64 * gen.P
    assert min(gen.Q64P) >= gen.LIMB_MAX
