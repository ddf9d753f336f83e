# The emulated board's image: MicroPython's qemu port (BOARD=MPS2_AN385) with
# ephkey frozen in. `make emu` builds it with this file as FROZEN_MANIFEST
# (tools/emubuild.py). main.py, ephkey_board.json and ephkey_pairing.json
# stay on the board's flash, as on the other boards (make deploy, host pair).
metadata(description="ephkey ephemeral key establishment (qemu_mps2_an385)", version="0.1.0")
include("../../tools/emu/port/manifest.py")
package("ephkey", base_path="../../firmware")
