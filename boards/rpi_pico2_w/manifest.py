# Freeze ephkey into a MicroPython image for this board:
#   make -C ports/rp2 BOARD=RPI_PICO2_W FROZEN_MANIFEST=<abs path>/boards/rpi_pico2_w/manifest.py
# (the port passes mpy-cross its own -march; tests/test_manifests.py freezes this
# file with MicroPython's tools/makemanifest.py the same way)
# main.py, ephkey_board.json and ephkey_pairing.json stay on the board's filesystem
# (make deploy copies the first two; host pair writes the third).
metadata(description="ephkey ephemeral key establishment (rpi_pico2_w)", version="0.1.0")
include("$(BOARD_DIR)/manifest.py")  # the stock RPI_PICO2_W image: aioble included
package("ephkey", base_path="../../firmware")
# BLE transport (ephkey.ble_link): micropython-lib's aioble. The stock board manifest
# above requires it already (then this line adds nothing); it is listed so that this
# file does not depend on that.
require("aioble")
