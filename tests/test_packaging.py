"""mip packages: package.json is the firmware package, package-ble.json what BLE adds.

``package.json`` lists exactly ``firmware/ephkey/*.py`` (checked in
tests/host/test_cli_deploy.py) and has no dependencies: a UART board needs
nothing else. ``package-ble.json`` installs the parts of micropython-lib's
aioble that ``ephkey.ble_link`` uses; the ESP32 and PYBD freeze manifests
require the same parts (the Pico W images freeze all of aioble already).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLE_PARTS = ["aioble-core", "aioble-peripheral", "aioble-server", "aioble-central",
             "aioble-client"]


def test_package_json_has_no_deps() -> None:
    pkg = json.loads((REPO / "package.json").read_text())
    assert pkg["deps"] == []
    assert all(src.startswith("firmware/ephkey/") for _, src in pkg["urls"])


def test_ble_package_lists_the_aioble_parts_ble_link_uses() -> None:
    pkg = json.loads((REPO / "package-ble.json").read_text())
    assert pkg["urls"] == []
    assert [name for name, _ in pkg["deps"]] == BLE_PARTS
    src = (REPO / "firmware" / "ephkey" / "ble_link.py").read_text()
    # what ble_link calls, and the aioble part that provides it
    for call, part in (("advertise(", "aioble-peripheral"), ("register_services(", "aioble-server"),
                       ("BufferedCharacteristic(", "aioble-server"), ("scan(", "aioble-central"),
                       ("subscribe(", "aioble-client"), ("notified(", "aioble-client")):
        assert call in src and part in BLE_PARTS, call


def test_freeze_manifests_require_the_same_parts() -> None:
    for board in ("esp32", "pybd_sf6"):
        text = (REPO / "boards" / board / "manifest.py").read_text()
        required = re.findall(r'^require\("([^"]+)"\)', text, re.M)
        assert sorted(required) == sorted(BLE_PARTS[1:]), board  # each part pulls in core
    for board in ("rpi_pico_w", "rpi_pico2_w"):
        text = (REPO / "boards" / board / "manifest.py").read_text()
        assert re.findall(r'^require\("([^"]+)"\)', text, re.M) == ["aioble"], board
