"""Board configuration: which role, on which transport, with which sizes.

The file is ``ephkey_board.json`` next to main.py (copied from
``boards/<name>/board.json`` by ``make deploy``). Everything is checked before
anything starts; a mistake stops start-up with a ``BoardError`` that says
which field is wrong.
"""

import json

from .config import FirstConfig, SecondConfig

PATH = "ephkey_board.json"

ROLES = ("first", "second")
TRANSPORTS = ("uart", "ble", "tcp", "usb")
# Raw random sources (``rng``): "os" is os.urandom, the board's hardware RNG;
# "emulator" is the emulated board's host-fed source, refused on any other board.
RNGS = ("os", "emulator")

# UART pins each port allows (TX, RX) per UART id; None: fixed by the id.
_RP2_PINS: dict = {
    0: ((0, 12, 16, 28), (1, 13, 17, 29)),
    1: ((4, 8, 20, 24), (5, 9, 21, 25)),
}
_ESP32_OUTPUT_PINS = tuple(p for p in range(34) if p not in (6, 7, 8, 9, 10, 11, 20, 24, 28, 29,
                                                               30, 31))
_ESP32_INPUT_PINS = _ESP32_OUTPUT_PINS + (34, 35, 36, 37, 38, 39)


class BoardError(Exception):
    pass


class Board:
    """A checked board configuration."""

    def __init__(self, doc):
        self.name = doc.get("name", "?")
        self.port = _pick(doc, "port", ("rp2", "esp32", "stm32", "unix", "qemu"))
        roles = doc.get("roles", [doc.get("role", "")])
        for r in roles:
            if r not in ROLES:
                raise BoardError("role %r: expected one of %s" % (r, ", ".join(ROLES)))
        self.roles = tuple(roles)
        self.transport = _pick(doc, "transport", TRANSPORTS)
        if self.transport == "ble" and self.port == "unix":
            raise BoardError("transport 'ble': the unix port has no bluetooth")
        if self.transport == "uart" and self.port == "unix":
            raise BoardError("transport 'uart': the unix port has no machine.UART; use 'tcp'")
        if self.transport == "usb":
            if self.port == "unix":
                raise BoardError("transport 'usb': the unix port's console is a terminal; "
                                 "use 'tcp'")
            if len(self.roles) != 1:
                raise BoardError("transport 'usb': one console carries one link, so one role")
        elif self.port == "qemu":
            raise BoardError("transport %r: the emulated board has only its console; use 'usb'"
                             % self.transport)
        self.rng = doc.get("rng", "os")
        if self.rng not in RNGS:
            raise BoardError("rng %r: expected one of %s" % (self.rng, ", ".join(RNGS)))
        if (self.rng == "emulator") != (self.port == "qemu"):
            if self.port == "qemu":
                raise BoardError("rng %r: the emulated board has no hardware RNG; use 'emulator'"
                                 % self.rng)
            raise BoardError("rng 'emulator' is the emulated board's only (port qemu): "
                             "a %s board uses its hardware RNG ('os')" % self.port)
        self.uart = doc.get("uart", {})
        if self.transport == "uart":
            _check_uart(self.port, self.uart)
        self.tcp = doc.get("tcp", {})
        if self.transport == "tcp":
            if not isinstance(self.tcp.get("port"), int):
                raise BoardError("tcp.port: an integer TCP port is required")
        self.ble = doc.get("ble", {})
        self.app = doc.get("app", {})
        self.first = None
        self.second = None
        try:
            if "first" in self.roles:
                self.first = FirstConfig(**_params(doc.get("first", {})))
            if "second" in self.roles:
                self.second = SecondConfig(**_params(doc.get("second", {})))
        except (ValueError, TypeError) as e:
            raise BoardError("station settings: %s" % e) from None


def load(path=PATH):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError:
        raise BoardError("no board file %s: deploy with make deploy BOARD=..." % path) from None
    except ValueError:
        raise BoardError("board file %s is not valid JSON" % path) from None
    return Board(doc)


def _pick(doc, key, allowed):
    v = doc.get(key)
    if v not in allowed:
        raise BoardError("%s %r: expected one of %s" % (key, v, ", ".join(allowed)))
    return v


def _params(d):
    # json gives lists; the station configs take tuples for suite lists
    out = {}
    for k in d:
        v = d[k]
        out[k] = tuple(v) if isinstance(v, list) else v
    return out


def _check_uart(port, u):
    uid = u.get("id")
    if not isinstance(uid, int):
        raise BoardError("uart.id: an integer UART id is required")
    if not isinstance(u.get("baudrate", 115200), int):
        raise BoardError("uart.baudrate must be an integer")
    if port == "stm32":
        if "tx" in u or "rx" in u:
            raise BoardError("uart.tx/rx: stm32 UART pins are fixed by the id; remove them")
        return
    tx, rx = u.get("tx"), u.get("rx")
    if port == "rp2":
        if uid not in _RP2_PINS:
            raise BoardError("uart.id %r: rp2 has UART 0 and 1" % uid)
        txs, rxs = _RP2_PINS[uid]
    else:
        txs, rxs = _ESP32_OUTPUT_PINS, _ESP32_INPUT_PINS
        if uid not in (0, 1, 2):
            raise BoardError("uart.id %r: esp32 has UART 0, 1 and 2" % uid)
    if tx not in txs:
        raise BoardError("uart.tx %r: not a TX pin of UART %d on %s (one of %s)"
                         % (tx, uid, port, ", ".join(str(p) for p in txs)))
    if rx not in rxs:
        raise BoardError("uart.rx %r: not an RX pin of UART %d on %s (one of %s)"
                         % (rx, uid, port, ", ".join(str(p) for p in rxs)))
