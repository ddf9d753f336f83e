# Freeze ephkey into a MicroPython image for this board:
#   make -C ports/unix FROZEN_MANIFEST=<abs path>/boards/unix/manifest.py \
#       MPY_CROSS_FLAGS=-march=x64
# The unix port passes no -march to mpy-cross, and ephkey._crc and ephkey._hs
# are viper code: without the flag mpy-cross stops with "invalid arch".
# (-march=x64 on x86_64; the arch of the machine the binary runs on elsewhere.)
# main.py, ephkey_board.json and ephkey_pairing.json stay on the board's filesystem
# (make deploy copies the first two; host pair writes the third).
metadata(description="ephkey ephemeral key establishment (unix)", version="0.1.0")
include("$(PORT_DIR)/variants/manifest.py")
package("ephkey", base_path="../../firmware")
