# Freeze ephkey into a MicroPython image for this board:
#   make -C ports/<port> BOARD=<MICROPYTHON BOARD> \
#       FROZEN_MANIFEST=<abs path>/boards/rpi_pico_w/manifest.py
# main.py, ephkey_board.json and ephkey_pairing.json stay on the board's filesystem
# (make deploy copies the first two; host pair writes the third).
metadata(description="ephkey ephemeral key establishment (rpi_pico_w)", version="0.1.0")
include("$(BOARD_DIR)/manifest.py")
package("ephkey", base_path="../../firmware")
# BLE transport (Nordic UART Service over aioble); remove to save flash on UART-only builds.
require("aioble")
