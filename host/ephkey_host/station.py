"""What both station roles share: output and event queues, ticks, the RNG.

A station is sans-IO (like h11): the caller hands it frames and the current
tick (``now_ms``, plain integer milliseconds) and drains what it produced with
:meth:`Station.next_output` (frames to put on the link, in order) and
:meth:`Station.next_event` (:class:`~.events.Event`, in order). It keeps no
clock of its own and never sleeps.

The RNG is any callable ``rng(n) -> bytes`` returning ``n`` bytes
(``os.urandom`` in real use, :class:`~.drbg.Drbg` for vectors). If it raises
:class:`~.errors.RngError` or returns something else than ``n`` bytes, the
station treats it as ``RNG_FAILURE``.
"""

from collections import deque
from collections.abc import Callable

from .errors import RngError
from .events import Event
from .ticks import DEFAULT_PERIOD, ticks_add, ticks_diff

Rng = Callable[[int], bytes]


class Station:
    def __init__(self, rng: Rng, tick_period: int, longest_timer: int):
        if not isinstance(tick_period, int) or tick_period < 4:
            raise ValueError("tick_period must be an int >= 4")
        # ticks_diff is only meaningful below half a period.
        if longest_timer >= tick_period // 2:
            raise ValueError("tick_period=%d too small for the configured timers" % tick_period)
        self._rng = rng
        self._period = tick_period
        self._out: deque[bytes] = deque()
        self._events: deque[Event] = deque()

    def receive(self, frame: bytes, now_ms: int) -> None:
        """Hand over one whole frame; never raises for what a peer can send."""
        raise NotImplementedError

    def poll(self, now_ms: int) -> None:
        """Run the timers due at ``now_ms``."""
        raise NotImplementedError

    # -- queues ---------------------------------------------------------------
    def next_output(self) -> bytes | None:
        """The next frame to send, or None."""
        return self._out.popleft() if self._out else None

    def next_event(self) -> Event | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def outputs(self) -> list[bytes]:
        """Drain all pending frames."""
        out = list(self._out)
        self._out.clear()
        return out

    def events(self) -> list[Event]:
        """Drain all pending events."""
        out = list(self._events)
        self._events.clear()
        return out

    def _emit(self, frame: bytes) -> None:
        self._out.append(bytes(frame))

    def _report(self, name: str, sid: int, arg: int = 0, payload: bytes | None = None) -> None:
        self._events.append(Event(name, sid, int(arg), payload))

    # -- ticks and randomness -------------------------------------------------
    def _tick(self, now_ms: int) -> int:
        if not isinstance(now_ms, int):
            raise TypeError("now_ms must be an int")
        return now_ms % self._period

    def _diff(self, a: int, b: int) -> int:
        return ticks_diff(a, b, self._period)

    def _add(self, t: int, delta: int) -> int:
        return ticks_add(t, delta, self._period)

    def _draw(self, n: int) -> bytes:
        try:
            out = self._rng(n)
        except RngError:
            raise
        except Exception as exc:  # a broken RNG is a failed health test, not a crash
            raise RngError(str(exc)) from exc
        if not isinstance(out, (bytes, bytearray)) or len(out) != n:
            raise RngError("rng returned %r for %d bytes" % (type(out).__name__, n))
        return bytes(out)


__all__ = ["DEFAULT_PERIOD", "Rng", "Station"]
