"""What both station roles share: output and event queues, jobs, ticks, the RNG.

A station is sans-IO (like h11): the caller hands it frames and the current
tick (``now_ms``, plain integer milliseconds) and drains what it produced with
:meth:`Station.next_output` (frames to put on the link, in order) and
:meth:`Station.next_event` (:class:`~.events.Event`, in order). It keeps no
clock of its own and never sleeps.

The output queue holds at most ``out_queue`` frames (4.8): a queued frame is
never changed, and when the queue is full the new frame is refused and
reported as the event DROPPED(sid, type); the station then goes on as if the
frame had been queued and lost on the link.

Jobs (4.7): X25519 runs only inside :meth:`Station.work`, one unit per call
(one X25519, or the job's completion); :meth:`Station.busy` says whether a
job is queued. The host's X25519 is native code, so a slice is a whole
X25519; what ``busy`` reports and what each completion emits are as in the
firmware, which slices finer.

The RNG is any callable ``rng(n) -> bytes`` returning ``n`` bytes
(``os.urandom`` in real use, :class:`~.drbg.Drbg` for vectors). If it raises
:class:`~.errors.RngError` or returns something else than ``n`` bytes, the
station treats it as ``RNG_FAILURE``.
"""

from collections import deque
from collections.abc import Callable

from .errors import RngError
from .events import DROPPED, Event
from .ticks import DEFAULT_PERIOD, ticks_add, ticks_diff

Rng = Callable[[int], bytes]


class Station:
    def __init__(self, rng: Rng, tick_period: int, longest_timer: int, out_queue: int):
        if not isinstance(tick_period, int) or tick_period < 4:
            raise ValueError("tick_period must be an int >= 4")
        # ticks_diff is only meaningful below half a period.
        if longest_timer >= tick_period // 2:
            raise ValueError("tick_period=%d too small for the configured timers" % tick_period)
        self._rng = rng
        self._period = tick_period
        self._out: deque[bytes] = deque()
        self._out_limit = out_queue
        self._events: deque[Event] = deque()

    def receive(self, frame: bytes, now_ms: int) -> None:
        """Hand over one whole frame; never raises for what a peer can send."""
        raise NotImplementedError

    def poll(self, now_ms: int) -> None:
        """Run the timers due at ``now_ms``."""
        raise NotImplementedError

    def busy(self) -> bool:
        """True while a job is queued or running (4.7). Changes nothing."""
        raise NotImplementedError

    def work(self, now_ms: int) -> None:
        """One unit of the job at the head of the queue (4.7); nothing if none."""
        raise NotImplementedError

    def run_jobs(self, now_ms: int) -> None:
        """``work(now_ms)`` until ``busy()`` is False (a vector's ``work`` step)."""
        while self.busy():
            self.work(now_ms)

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

    def queued(self) -> int:
        """Frames in the output queue."""
        return len(self._out)

    def _emit(self, frame: bytes) -> None:
        """Queue a frame, or refuse it with DROPPED when the queue is full (4.8)."""
        if len(self._out) >= self._out_limit:
            ftype = frame[0] & 0x0F
            sid = 0 if ftype == 1 else int.from_bytes(frame[1:3], "big")
            self._report(DROPPED, sid, ftype)
            return
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
