"""CPython host implementation of the ephkey protocol (docs/protocol.md).

An independent second implementation, written from the spec, that drives the
shared vectors in ``tests/vectors/`` and cross-checks the MicroPython firmware.

Modules: ``wire`` (frame codec), ``crypto`` and ``keyschedule`` (suites 1 and 2),
``drbg`` (section 12 RNG), ``ticks`` (wrapping tick arithmetic), ``errors`` and
``events`` (sections 6 and 7), ``config`` (station settings, pairings),
``first`` and ``second`` (the two sans-IO roles), ``transcript`` (validator of
captured sessions), ``vectors`` (load, record and run vector files).
"""

__version__ = "0.1.0"  # the project's one version: tests/host/test_version.py

from .config import FirstConfig, Pairing, SecondConfig
from .drbg import Drbg
from .errors import Code, ProtocolError, RngError, UsageError
from .events import Event
from .first import FirstStation
from .second import SecondStation

__all__ = [
    "Code", "Drbg", "Event", "FirstConfig", "FirstStation", "Pairing",
    "ProtocolError", "RngError", "SecondConfig", "SecondStation", "UsageError",
]
