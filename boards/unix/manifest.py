# Freeze ephkey into a MicroPython image for this board:
#   make -C ports/<port> BOARD=<MICROPYTHON BOARD> \
#       FROZEN_MANIFEST=<abs path>/boards/unix/manifest.py
# main.py, ephkey_board.json and ephkey_pairing.json stay on the board's filesystem
# (make deploy copies the first two; host pair writes the third).
metadata(description="ephkey ephemeral key establishment (unix)", version="0.1.0")
include("$(PORT_DIR)/variants/manifest.py")
package("ephkey", base_path="../../firmware")
