"""Coverage-guided fuzzing of the host codecs and stations with atheris
(libFuzzer for Python), when it is installed.

    python tools/fuzz_atheris.py -runs=100000 [-seed=1] [libFuzzer flags]

Each input is cut by atheris.FuzzedDataProvider into a target choice and
bytes: wire.decode (both roles), a LinkDecoder fed in pieces, the transcript
validator, and a first and a second station holding an open session. Any
exception other than the documented ProtocolError is a crash (libFuzzer stops
and prints the input); at the end libFuzzer prints "Done N runs".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "host")]

import atheris  # type: ignore[import-untyped]  # noqa: E402

with atheris.instrument_imports():
    from ephkey_host import (  # noqa: E402
        Drbg,
        FirstConfig,
        FirstStation,
        Pairing,
        SecondConfig,
        SecondStation,
        link,
        transcript,
        wire,
    )
    from ephkey_host.errors import ProtocolError  # noqa: E402
    from ephkey_host.events import ERROR, PEER_ERROR  # noqa: E402

P = Pairing(b"F-ident1", b"S-ident1", b"p" * 16)
RUNS = [0]
CORPUS: list[bytes] = []


def _stations() -> tuple[FirstStation, SecondStation]:
    f = FirstStation(FirstConfig(suites=[1], rotate_frames=3, idrks=200), [P], Drbg(b"F"), 0)
    s = SecondStation(SecondConfig(offer=[1]), P, Drbg(b"S"), 0)
    s.connect(0)
    for _ in range(3):
        for fr in s.outputs():
            CORPUS.append(fr)
            f.receive(fr, 0)
        for fr in f.outputs():
            CORPUS.append(fr)
            s.receive(fr, 0)
    assert s.state == "OPEN"
    f.events()
    s.events()
    return f, s


F, S = _stations()


def one_input(data: bytes) -> None:
    RUNS[0] += 1
    fdp = atheris.FuzzedDataProvider(data)
    which = fdp.ConsumeIntInRange(0, 5)
    if which == 5 and CORPUS:  # a genuine frame with bytes of the input over it
        base = bytearray(CORPUS[fdp.ConsumeIntInRange(0, len(CORPUS) - 1)])
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            if base:
                base[fdp.ConsumeIntInRange(0, len(base) - 1)] = fdp.ConsumeInt(1) & 0xFF
        raw = bytes(base)
        which = fdp.ConsumeIntInRange(3, 4)
    else:
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    if which == 0:
        try:
            wire.decode(raw, wire.ACCEPTED_BY_F if len(raw) % 2 else wire.ACCEPTED_BY_S)
        except ProtocolError:
            pass
    elif which == 1:
        d = link.LinkDecoder()
        step = 1 + (raw[0] if raw else 0) % 17
        for i in range(0, len(raw), step):
            for fr in d.feed(raw[i:i + step]):
                assert len(fr) <= link.MAX_FRAME
    elif which == 2:
        half = len(raw) // 2
        transcript.validate([("F2S", raw[:half]), ("S2F", raw[half:])])
    else:
        st = F if which == 3 else S
        st.receive(raw, RUNS[0])
        for e in st.events():
            assert e.name in (ERROR, PEER_ERROR) or raw in CORPUS or raw[1:2] == b"\x01", e
        st.outputs()


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()  # libFuzzer ends the process: "Done N runs", or the crash


if __name__ == "__main__":
    main()
