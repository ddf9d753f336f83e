"""Board configuration: which role, on which transport, with which sizes.

The file is ``ephkey_board.json`` next to main.py (copied from
``boards/<name>/board.json`` by ``make deploy``). Everything is checked before
anything starts; a mistake stops start-up with a ``BoardError`` that says
which field is wrong.
"""

import json
import sys

from .config import FirstConfig, SecondConfig

PATH = "ephkey_board.json"

ROLES = ("first", "second")
TRANSPORTS = ("uart", "ble", "tcp", "usb")
# Raw random sources (``rng``): "os" is os.urandom, the board's hardware RNG;
# "emulator" is the emulated board's host-fed source, refused on any other board.
RNGS = ("os", "emulator")

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
        if self.transport == "uart":  # only a UART board loads (and ships) the pin rules
            from .uart_pins import check

            _check_uart(self.port, self.uart, doc, check)
        self.tcp = doc.get("tcp", {})
        if self.transport == "tcp":
            if not isinstance(self.tcp.get("port"), int):
                raise BoardError("tcp.port: an integer TCP port is required")
        self.ble = doc.get("ble", {})
        self.wdt_ms = _wdt_ms(self.port, doc.get("wdt_ms", 0))
        self.app = doc.get("app", {})
        self.pairing = _pairing(doc.get("pairing", {}))
        self.first = None
        self.second = None
        try:
            if "first" in self.roles:
                self.first = FirstConfig(**_params(doc.get("first", {})))
            if "second" in self.roles:
                self.second = SecondConfig(**_params(doc.get("second", {})))
        except (ValueError, TypeError) as e:
            raise BoardError("station settings: %s" % e) from None

    def max_frame(self, role=None):
        """The longest frame a link of this board carries for ``role`` (all of
        its roles by default): a DATA frame, or the longest handshake frame
        (suite 2's SRK, 64 bytes)."""
        n = 64
        for cfg in (self.first, self.second):
            if cfg is not None and (role is None or cfg is getattr(self, role)):
                n = max(n, cfg.max_payload + 16)
        return n


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


def _pairing(d):
    """The ``pairing`` section (docs/protocol.md 15.2): device pairing's settings."""
    out = {"enabled": d.get("enabled", True), "window_s": d.get("window_s", 120),
           "retry_ms": d.get("retry_ms", 1000)}
    if out["enabled"] is not True and out["enabled"] is not False:
        raise BoardError("pairing.enabled: true or false")
    w = out["window_s"]
    if not isinstance(w, int) or not 10 <= w <= 600:
        raise BoardError("pairing.window_s %r: seconds, 10..600" % (w,))
    r = out["retry_ms"]
    if not isinstance(r, int) or not 100 <= r <= 10000:
        raise BoardError("pairing.retry_ms %r: 100..10000" % (r,))
    for k in d:
        if k not in out:
            raise BoardError("pairing.%s: unknown (enabled, window_s, retry_ms)" % k)
    return out


def _wdt_ms(port, ms):
    """The watchdog timeout: 0 (off) or what the port's machine.WDT takes."""
    from .watchdog import MAX_MS
    if not isinstance(ms, int) or ms < 0:
        raise BoardError("wdt_ms %r: a timeout in ms, or 0 for no watchdog" % (ms,))
    if ms == 0:
        return 0
    if port not in MAX_MS:
        raise BoardError("wdt_ms: the %s port has no machine.WDT; use 0" % port)
    if ms < 100 or ms > MAX_MS[port]:
        raise BoardError("wdt_ms %d: between 100 and %d on %s" % (ms, MAX_MS[port], port))
    return ms


def _check_uart(port, u, doc, check_pins):
    uid = u.get("id")
    if not isinstance(uid, int):
        raise BoardError("uart.id: an integer UART id is required")
    if not isinstance(u.get("baudrate", 115200), int):
        raise BoardError("uart.baudrate must be an integer")
    # per chip, from the ports' sources: uart_pins.check
    why = check_pins(port, _chip(doc), doc.get("micropython_board"), uid, u.get("tx"), u.get("rx"))
    if why:
        raise BoardError(why)


def _chip(doc):
    """The board file's mcu ("RP2040 ..."), else what the running board reports."""
    mcu = doc.get("mcu")
    if mcu:
        return mcu.split()[0]
    machine = getattr(sys.implementation, "_machine", "")
    for chip in ("RP2040", "RP2350", "ESP32"):
        if chip in machine:
            return chip
    return None
