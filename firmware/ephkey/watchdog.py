"""machine.WDT, fed by the main loop: a hung loop resets the board.

The board file's ``wdt_ms`` (0: no watchdog) is the timeout. The runtime
starts the watchdog once the board file and the pairing were accepted (so a
board that stops with a configuration error stays at its REPL), and
``feed_loop`` feeds it every ``wdt_ms / 4`` while every running node's
timers went round within ``wdt_ms / 2``: a blocked event loop, a node whose
timers died, or a crashed program stops the feeding and the board resets.

What each port does (MicroPython v1.28.0 sources):

- rp2 (ports/rp2/machine_wdt.c): the RP2040/RP2350 watchdog through
  ``watchdog_enable``; at most 8388 ms (``0xffffff / 2 / 1000``).
- esp32 (ports/esp32/machine_wdt.c): ESP-IDF's task watchdog, MicroPython's
  task subscribed as a user, with ``trigger_panic``: a missed feed panics
  and reboots. At most 1 073 741 823 ms (12.4 days): ESP-IDF counts 500 us
  ticks and sets its reset stage at twice the timeout, in 32 bits. A new
  WDT() changes the timeout (``esp_task_wdt_reconfigure``).
- stm32 (ports/stm32/machine_wdt.c): the IWDG on the ~32 kHz LSI, prescaler
  up to /256: at most 32767 ms (the LSI's spread makes the real time
  differ). A new WDT() changes the timeout.
- unix: no machine.WDT.

None of them can be stopped once started, and a soft reset (Ctrl-D, or
mpremote's automatic one) does not stop it either. After Ctrl-C the runtime
hands the feeding to a ``machine.Timer`` (``hold``) so that the REPL stays
usable; a soft reset ends that timer, and the board then resets within
``wdt_ms`` and starts ephkey again. Use ``mpremote resume ...`` (no soft
reset) to work on a board whose watchdog runs, or deploy ``"wdt_ms": 0``.
"""

from asyncio import sleep_ms  # type: ignore[attr-defined]
from time import ticks_diff, ticks_ms  # type: ignore[attr-defined]

# the longest timeout each port's machine.WDT takes (see the table above)
MAX_MS = {"rp2": 8388, "esp32": 1073741823, "stm32": 32767}


class Watchdog:
    """The port's machine.WDT with the board file's timeout (started here)."""

    def __init__(self, timeout_ms, machine=None):
        if machine is None:
            import machine as port_machine

            machine = port_machine
        self._machine = machine
        self.timeout_ms = timeout_ms
        self._wdt = machine.WDT(timeout=timeout_ms)
        self._timer = None
        self.feeds = 0

    def feed(self):
        self._wdt.feed()
        self.feeds += 1

    def hold(self):
        """Feed from a periodic machine.Timer from now on (the REPL after Ctrl-C)."""
        if self._timer is not None:
            return
        timer_cls = self._machine.Timer
        try:
            timer = timer_cls(-1)  # a virtual timer: rp2, stm32
        except (ValueError, TypeError):
            timer = timer_cls(0)  # esp32 has hardware timers only
        wdt = self._wdt
        timer.init(period=max(1, self.timeout_ms // 4), mode=timer_cls.PERIODIC,
                   callback=lambda _t: wdt.feed())
        self._timer = timer


def start(board, machine=None):
    """A started Watchdog for the board file's ``wdt_ms``, or None (0: off)."""
    if not getattr(board, "wdt_ms", 0):
        return None
    return Watchdog(board.wdt_ms, machine)


async def feed_loop(wdt, nodes):
    """Feed every timeout/4 while each running node's timers beat within
    timeout/2; ``nodes``: the running ones (node.watch())."""
    period = max(1, wdt.timeout_ms // 4)
    stale = max(1, wdt.timeout_ms // 2)
    while True:
        now = ticks_ms()
        healthy = True
        for node in nodes:
            if node.running and ticks_diff(now, node.beat) >= stale:
                healthy = False
        if healthy:
            wdt.feed()
        await sleep_ms(period)
