# Freeze ephkey into a MicroPython image for this board:
#   make -C ports/stm32 BOARD=PYBD_SF6 FROZEN_MANIFEST=<abs path>/boards/pybd_sf6/manifest.py
# (the port passes mpy-cross its own -march; tests/test_manifests.py freezes this
# file with MicroPython's tools/makemanifest.py the same way)
# main.py, ephkey_board.json and ephkey_pairing.json stay on the board's filesystem
# (make deploy copies the first two; host pair writes the third).
metadata(description="ephkey ephemeral key establishment (pybd_sf6)", version="0.1.0")
include("$(PORT_DIR)/boards/PYBD_SF2/manifest.py")  # what PYBD_SF6 freezes by default
package("ephkey", base_path="../../firmware")
# BLE transport (ephkey.ble_link): the parts of micropython-lib's aioble it uses
# (no l2cap, no security); remove these four lines on a UART-only build.
require("aioble-peripheral")  # first station: advertises
require("aioble-server")  # first station: NUS service, notify
require("aioble-central")  # second station: scans, connects
require("aioble-client")  # second station: writes, subscribes
