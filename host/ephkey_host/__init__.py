"""CPython host implementation of the ephkey protocol (docs/protocol.md).

An independent second implementation, written from the spec, that drives the
shared vectors in ``tests/vectors/`` and cross-checks the MicroPython firmware.

Modules: ``wire`` (frame codec), ``crypto`` and ``keyschedule`` (suites 1 and 2),
``drbg`` (section 12 RNG), ``ticks`` (wrapping tick arithmetic), ``errors`` and
``events`` (sections 6 and 7), ``config`` (station settings, pairings),
``first`` and ``second`` (the two sans-IO roles), ``transcript`` (validator of
captured sessions), ``vectors`` (load, record and run vector files).

The application API (``api``, ``links``): :func:`connect` (the host as
second station), :func:`serve` (as first station), :class:`Session`,
:class:`SessionError`, and the links :func:`serial_link`, :func:`tcp_link`,
:func:`ble_link`, :func:`memory_pair`.
"""

__version__ = "0.1.0"  # the project's one version: tests/host/test_version.py

from .api import Session, connect, load_pairings, serve
from .config import FirstConfig, Pairing, SecondConfig
from .drbg import Drbg
from .errors import LINK_LOST, Code, ProtocolError, RngError, SessionError, UsageError
from .events import Event
from .first import FirstStation
from .links import Link, LinkError, ble_link, memory_pair, serial_link, tcp_link
from .second import SecondStation

__all__ = [
    "LINK_LOST", "Code", "Drbg", "Event", "FirstConfig", "FirstStation", "Link", "LinkError",
    "Pairing", "ProtocolError", "RngError", "SecondConfig", "SecondStation", "Session",
    "SessionError", "UsageError", "ble_link", "connect", "load_pairings", "memory_pair",
    "serial_link", "serve", "tcp_link",
]
