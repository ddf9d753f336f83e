"""Helpers of the emulated-board tests (tests/host/test_emu_*.py; not a test module).

* :func:`flash_tree` fills a folder as tools/deploy.py --dir does (armv6m
  .mpy, main.py, the board file with overrides) plus a pairing file: what an
  emulated board's flash is made from;
* :func:`board_doc` is boards/qemu_mps2_an385/board.json with a role and the
  settings a test wants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import deploy
from ephkey_host import pairing as pairing_mod

BOARD = "qemu_mps2_an385"


def board_doc(role: str, suite: int, *, messages: int = 100, rotate_frames: int = 32,
              idrks: int = 8, size: int = 32) -> dict[str, Any]:
    return deploy.board_file(deploy.load_board(BOARD), role, messages, overrides={
        "first": {"rotate_frames": rotate_frames, "idrks": idrks, "suites": [suite]},
        "second": {"offer": [suite]}, "app": {"size": size}})


def flash_tree(folder: Path, doc: dict[str, Any], station_pairing: dict[str, Any]) -> Path:
    """A board's files: the firmware and board file (deploy --dir), its pairing."""
    deploy.install_to_folder(folder, doc, log=lambda _line: None)
    pairing_mod.write_private(folder / "ephkey_pairing.json", json.dumps(station_pairing) + "\n")
    return folder
