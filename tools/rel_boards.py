"""Pairs of virtual boards joined by a faulty link (tools/linksim.py), for
tools/reliability.py and the reliability tests.

Each board is a plain MicroPython unix process running a program like
firmware/main.py (``ephkey.run_board``) from a temporary folder that holds
its ``ephkey_board.json``, ``ephkey_pairing.json`` and that ``main.py``, whose
applications the board file's ``app`` object configures
(``ExchangeApp.from_board``; EchoApp with its checks and periodic stats). The
firmware's TCP "UART" connects to one side of a LinkSim whose FaultModel is a
seeded ``FrameFaults``. The boards print ``EPHKEY {json}`` lines, which are
collected here.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frame_faults import FrameFaults
from linksim import LinkSim

REPO = Path(__file__).resolve().parents[1]

MAIN_PY = """\
# reliability run: firmware/main.py's program with the apps set by the board
# file's ``app`` object (EchoApp's checks and periodic stats)
import ephkey
from ephkey.echo_app import EchoApp
from ephkey.exchange_app import ExchangeApp


async def program(board, role, link, station):
    a = board.app
    if role == "first":
        echo = EchoApp(checked=a.get("checked", False), stats_ms=a.get("stats_ms", 0),
                       quiet=a.get("quiet", False))
        await ephkey.serve(link, None, echo.handler, station=station, on_event=echo.on_event,
                           on_error=echo.on_error, on_node=echo.on_node)
    else:
        exchange = ExchangeApp.from_board(a)
        client = ephkey.Client(link, None, station=station, on_event=exchange.on_event)
        await exchange.run(client)
        await client.wait()


ephkey.run_board(program)
"""

# Timers for runs over a fast virtual line: the defaults of spec section 11
# scaled down (the relations between them kept: S's budget inside L).
# confirm_ms: below idle_ms (section 11) and above S's (max_tries + 1) x retry_ms
FIRST = {"rotate_frames": 4, "rekey_retry_ms": 300, "rekey_tries": 4, "idle_ms": 5000,
         "confirm_ms": 1500}
SECOND = {"retry_ms": 200, "max_tries": 5}
APP = {"messages": 3, "size": 24, "reconnects": 20, "echo_timeout_ms": 250, "resends": 4,
       "quiet": True}


def find_micropython() -> str:
    env = os.environ.get("MICROPYTHON", "").strip()
    if env:
        return env
    import shutil
    import sys
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    return shutil.which("micropython") or "micropython"


class Board:
    """One MicroPython process running the runtime in its own folder."""

    def __init__(self, micropython: str, folder: Path, name: str, role: str, port: int,
                 station: dict[str, Any], app: dict[str, Any], self_id: bytes, peer_id: bytes,
                 ps: bytes, micropypath: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"name": name, "port": "unix", "roles": [role], "transport": "tcp",
               "tcp": {"host": "127.0.0.1", "port": port}, role: station, "app": app}
        (folder / "ephkey_board.json").write_text(json.dumps(doc))
        (folder / "ephkey_pairing.json").write_text(json.dumps(
            {"format": 1, "self": self_id.hex(), "peers": [{"id": peer_id.hex(), "ps": ps.hex()}]}))
        (folder / "main.py").write_text(MAIN_PY)
        self.name = name
        self.ps = ps
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        env = dict(os.environ, MICROPYPATH=micropypath)
        self.proc = subprocess.Popen([micropython, "main.py"], cwd=folder, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._lock:
                if line.startswith("EPHKEY "):
                    try:
                        self.lines.append(json.loads(line[7:]))
                        continue
                    except ValueError:
                        pass
                self.raw.append(line)
                del self.raw[:-200]

    def find(self, ev: str) -> list[dict[str, Any]]:
        with self._lock:
            return [x for x in self.lines if x.get("ev") == ev]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(2)


@dataclass
class PairResult:
    name: str
    seed: int
    summary: dict[str, Any] | None
    first_stats: dict[str, Any] | None
    faults: dict[str, int]
    link: dict[str, dict[str, int]]
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    mem_first: int | None = None  # the first station's heap in use: first stats line
    mem_last: int | None = None  # ... and last


def _micropypath(mpy_dir: Path | None) -> str:
    base = str(mpy_dir) if mpy_dir else str(REPO / "firmware")
    return base + ":.frozen"


def run_pairs(workdir: Path, pairs: int, handshakes: int,
              faults: Callable[[int], FrameFaults], *, seed: int = 1, baud: int = 115200,
              first: dict[str, Any] | None = None, second: dict[str, Any] | None = None,
              app: dict[str, Any] | None = None, timeout_s: float = 600.0,
              mpy_dir: Path | None = None, micropython: str | None = None,
              progress: Callable[[str], None] | None = None) -> list[PairResult]:
    """Run ``pairs`` first/second board pairs at once; each second station
    runs ``handshakes`` sessions (ExchangeApp). Returns one result per pair."""
    mp = micropython or find_micropython()
    fcfg = dict(FIRST, **(first or {}))
    scfg = dict(SECOND, **(second or {}))
    acfg = dict(APP, **(app or {}))
    sims: list[LinkSim] = []
    models: list[FrameFaults] = []
    boards: list[tuple[Board, Board]] = []
    path = _micropypath(mpy_dir)
    t0 = time.monotonic()
    try:
        for i in range(pairs):
            model = faults(seed + i)
            sim = LinkSim(baud=baud, faults=model).start()
            sims.append(sim)
            models.append(model)
            ps = os.urandom(16)
            id_f, id_s = b"RELF%04d" % i, b"RELS%04d" % i
            f = Board(mp, workdir / ("pair%d" % i) / "first", "relf%d" % i, "first", sim.port_a,
                      fcfg, {"checked": True, "stats_ms": 500, "quiet": True},
                      id_f, id_s, ps, path)
            boards.append((f, f))
        # the first stations must listen before the second ones start asking
        deadline = time.monotonic() + 30
        for f, _ in boards:
            while not f.find("up") and time.monotonic() < deadline and f.proc.poll() is None:
                time.sleep(0.02)
        for i, sim in enumerate(sims):
            f = boards[i][0]
            s = Board(mp, workdir / ("pair%d" % i) / "second", "rels%d" % i, "second",
                      sim.port_b, scfg, dict(acfg, handshakes=handshakes),
                      b"RELS%04d" % i, b"RELF%04d" % i, f.ps, path)
            boards[i] = (f, s)
        deadline = t0 + timeout_s
        pending = set(range(pairs))
        done_at: dict[int, float] = {}
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                f, s = boards[i]
                if s.find("summary") or s.proc.poll() is not None or f.proc.poll() is not None:
                    pending.discard(i)
                    done_at[i] = time.monotonic() - t0
                    if progress:
                        progress("pair %d done after %.1f s" % (i, done_at[i]))
            time.sleep(0.1)
        time.sleep(0.6)  # one more stats line from the first stations
        results = []
        for i, (f, s) in enumerate(boards):
            summ = s.find("summary")
            stats = f.find("stats")
            errs = []
            if not summ:
                errs.append("no summary from the second station (timeout or crash)")
            for b in (f, s):
                if b.proc.poll() is not None:
                    errs.append("%s exited: %s" % (b.name, "\n".join(b.raw[-20:])))
                tracebacks = [x for x in b.raw if "Traceback" in x or "Error" in x]
                if tracebacks:
                    errs.append("%s printed: %s" % (b.name, "\n".join(b.raw[-20:])))
            results.append(PairResult(
                name="pair%d" % i, seed=seed + i, summary=summ[-1] if summ else None,
                first_stats=stats[-1] if stats else None, faults=dict(models[i].counts),
                link=sims[i].stats(), errors=errs, elapsed_s=done_at.get(i, -1.0),
                mem_first=stats[0].get("mem") if stats else None,
                mem_last=stats[-1].get("mem") if stats else None))
        return results
    finally:
        for pair in boards:
            for b in set(pair):
                b.stop()
        for sim in sims:
            sim.stop()


# ------------------------------------------------ fuzz over the serial endpoint

class HostEnd:
    """The host's end of a LinkSim side: a host station behind link framing.
    Every frame the board sends is kept in ``rx``; the station gets those
    ``route`` lets through (all by default)."""

    def __init__(self, port: int, station: Any) -> None:
        import socket

        from ephkey_host import link
        self.link = link
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(0.02)
        self.dec = link.LinkDecoder()
        self.st = station
        self.t0 = time.monotonic()
        self.events: list[Any] = []
        self.rx: list[bytes] = []
        self.rx_at = time.monotonic()  # when the last frame came
        self.route: Callable[[bytes], bool] = lambda frame: True

    def now(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, frame: bytes) -> None:
        self.sock.sendall(self.link.encode_frame(frame, max_frame=4096))  # oversize too

    def flush(self) -> None:
        for f in self.st.outputs():
            self.send_frame(f)

    def run(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                data = b""
            for f in self.dec.feed(data):
                self.rx.append(f)
                self.rx_at = time.monotonic()
                if self.route(f):
                    self.st.receive(f, self.now())
            self.st.poll(self.now())
            self.st.run_jobs(self.now())  # suite 2's X25519 jobs (protocol.md 4.7)
            self.events += self.st.events()
            self.flush()
            if until and until():
                return

    def quiet(self, ms: int, most_s: float = 10.0) -> None:
        """Until the board has sent nothing for ``ms`` (a job's late SRK frame)."""
        self.run(most_s, lambda: time.monotonic() - self.rx_at >= ms / 1000)

    def close(self) -> None:
        self.sock.close()


# Records of the fuzzed board's pairing file, besides the legitimate S's: the
# probe's (the attacker's handshakes whose PROOFs it mutates, each slot its
# own so that the legitimate session is never replaced), the siege's (the
# mutated REQs' id_s: in suite 3 their slots count as failed attempts and start
# its back-off) and one of the other kind (a user record beside ps records, a
# ps record beside user records: REQs naming it with the board's suite get
# BAD_SUITE, 15.10 item 1).
FUZZ_F = b"FUZZ-F01"
FUZZ_IDS = {"legit": b"FUZZ-S01", "probe": b"FUZZ-S02", "siege": b"FUZZ-S03",
            "other": b"FUZZ-S04"}
PROOF_ROUND_EVERY = 10  # steps per block: one probe round (1-3 PROOFs), 3 REQs, 6 DATA


def _fuzz_pairings(suite: int) -> dict[str, Any]:
    from ephkey_host import Pairing
    out = {}
    for name, id_s in FUZZ_IDS.items():
        user = (suite == 3) != (name == "other")
        out[name] = (Pairing(FUZZ_F, id_s, user=b"user secret of " + id_s) if user
                     else Pairing(FUZZ_F, id_s, os.urandom(16)))
    return out


def _record(p: Any) -> dict[str, str]:
    return {"id": p.id_s.hex(), **({"user": p.user.hex()} if p.is_user else {"ps": p.ps.hex()})}


def serial_fuzz(workdir: Path, n: int, *, suite: int = 1, seed: bytes = b"serial fuzz",
                baud: int = 1_000_000, micropython: str | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A virtual board (tools/vboard.py) running the firmware's first station
    (``suite``: 1, 2, or 3 beside 2) with EchoApp; its UART is one side of a
    LinkSim; the host on the other side holds a legitimate session of that
    suite and sends ``n`` hostile inputs between its messages: mutated or
    random frames made from its DATA frames (and raw garbage), REQs with a
    field changed (``hostile.field_mutator``) and, once every
    ``PROOF_ROUND_EVERY`` steps, a probe round: a genuine REQ of the probe
    record, then 1-3 PROOFs for its half-open slot with a field changed
    (``hostile_handshakes.bad_proof``), each answered with the code the spec's
    order of checks gives (``proof_code``), then the genuine PROOF (KEY if the
    slot lives). Returns the board's rejection codes, crashes (tracebacks on
    its console), reboots, the counts of each input class and mutation, the
    verdicts that differed from the spec's (``mismatches``), sessions the
    board established beyond the genuine handshakes (``wrong_accepts``), and
    whether the sessions held."""
    import shutil

    import hostile as H
    import hostile_handshakes as HS
    from ephkey_host import Drbg, SecondConfig, SecondStation, wire
    from ephkey_host.errors import Code
    from vboard import VirtualBoard

    mp = micropython or find_micropython()
    flash = workdir / "flash"
    (flash / "lib").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "firmware" / "ephkey", flash / "lib" / "ephkey", dirs_exist_ok=True)
    pairs = _fuzz_pairings(suite)
    sim = LinkSim(baud=baud).start()
    doc = {"name": "fuzz-f", "port": "unix", "roles": ["first"], "transport": "tcp",
           "tcp": {"host": "127.0.0.1", "port": sim.port_a},
           "first": {"suites": [3, 2] if suite == 3 else [suite], "rotate_frames": 16,
                     "idrks": 255},
           "app": {"checked": False, "stats_ms": 300, "quiet": True}}
    (flash / "ephkey_board.json").write_text(json.dumps(doc))
    (flash / "ephkey_pairing.json").write_text(json.dumps(
        {"format": 1, "self": FUZZ_F.hex(), "peers": [_record(p) for p in pairs.values()]}))
    (flash / "main.py").write_text(MAIN_PY)
    log_path = workdir / "board.log"
    vb = VirtualBoard(flash, 0, uart_port=sim.port_a, name="fuzz-f", micropython=[mp],
                      log_path=log_path)
    res: dict[str, Any] = {"suite": suite, "inputs": 0, "garbage_bytes": 0, "echoes": 0,
                           "echo_failures": 0, "by_class": {"DATA": 0, "REQ": 0, "PROOF": 0},
                           "by_mutation": {}, "handshakes": 0, "probe_rounds": 0,
                           "probe_keys": 0, "wrong_keys": 0, "answers": {}, "proof_answers": {},
                           "mismatches": 0, "notes": [], "srk_wait_ms": 0}
    secret = {name: p.user if p.is_user else None for name, p in pairs.items()}
    # Before a probe's REQ the board must have sent what earlier inputs made it
    # send: a siege REQ's suite-3 SRK comes after F's job, and the probe would
    # take it for its own. Quiet for twice the slowest SRK wait seen (the board
    # slows down on a loaded machine), and at least this long:
    quiet_ms = (100, 150, 400)[suite - 1]
    end: HostEnd | None = None

    def count(key: str, name: str) -> None:
        res[key][name] = res[key].get(name, 0) + 1

    def code_name(f: bytes) -> str:
        return Code(f[3]).name if 1 <= f[3] <= max(Code) else "code %d" % f[3]

    def mismatch(note: str) -> None:
        res["mismatches"] += 1
        if len(res["notes"]) < 20:
            res["notes"].append(note)

    try:
        vb.start()
        deadline = time.monotonic() + 20
        while b'"ev": "up"' not in vb.output_tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        s = SecondStation(SecondConfig(offer=[suite], retry_ms=300), pairs["legit"].for_second(),
                          os.urandom, 0)
        end = HostEnd(sim.port_b, s)
        corpus: list[bytes] = []

        def handshake() -> bool:
            assert end is not None
            end.route = lambda frame: True
            s.connect(end.now(), secret["legit"])
            end.flush()
            end.run(30, lambda: s.state == "OPEN")
            if s.state == "OPEN":
                res["handshakes"] += 1
                sid = s.sid
                end.route = lambda frame: H.fsid(frame) == sid  # not the probe's frames
            return s.state == "OPEN"

        def echo(msg: bytes) -> bool:
            assert end is not None
            before = len(end.events)
            s.send_data(msg, end.now())
            corpus.extend(s.outputs())
            end.send_frame(corpus[-1])
            end.run(5, lambda: any(e.name == "DATA" and e.payload == msg
                                   for e in end.events[before:]))
            ok = any(e.name == "DATA" and e.payload == msg for e in end.events[before:])
            res["echoes" if ok else "echo_failures"] += 1
            return ok

        def answer(mark: int, sid: int, types: tuple[int, ...], seconds: float = 10.0
                   ) -> list[bytes]:
            """The board's frames since rx[mark] for ``sid`` of ``types``, once one came."""
            assert end is not None

            def got() -> list[bytes]:
                return [f for f in end.rx[mark:] if H.ftype(f) in types and H.fsid(f) == sid]
            end.run(seconds, lambda: bool(got()))
            return got()

        probe_fails = [0]  # the probe record's failed attempts in a row

        def probe_round(rnd: Drbg, budget: int) -> int:
            """A genuine REQ of the probe record, then PROOFs for its slot with a
            field changed, then the genuine PROOF. Returns the PROOFs sent."""
            assert end is not None
            p = SecondStation(SecondConfig(offer=[suite]), pairs["probe"].for_second(),
                              os.urandom, end.now())
            p.connect(end.now(), secret["probe"])
            (req,) = p.outputs()
            srk = b""

            def answered(m: int) -> bool:  # SRK, or refused (ERROR with sid 0)
                assert end is not None
                return any(H.ftype(f) == wire.SRK or H.is_error_frame(f) and H.fsid(f) == 0
                           for f in end.rx[m:])
            for _ in range(5):  # NOT_READY while F's key pair of a new interval is made
                end.quiet(max(quiet_ms, 2 * res["srk_wait_ms"]))
                mark = len(end.rx)
                t_req = time.monotonic()
                end.send_frame(req)
                end.run(10, functools.partial(answered, mark))
                got = [f for f in end.rx[mark:] if H.ftype(f) == wire.SRK]
                if got:
                    srk = got[0]
                    res["srk_wait_ms"] = max(res["srk_wait_ms"],
                                             int((end.rx_at - t_req) * 1000))
                    break
            if not srk:
                mismatch("probe REQ not answered with SRK: %s" % [f.hex() for f in end.rx[-3:]])
                return 0
            sid = H.fsid(srk)
            p.receive(srk, end.now())
            p.run_jobs(end.now())
            proof = b"".join(p.outputs())
            if H.ftype(proof) != wire.PROOF:
                mismatch("the probe made no PROOF of SRK %s: %r" % (srk.hex(), p.events()))
                return 0
            res["probe_rounds"] += 1
            live = {H.fsid(f) for f in end.rx if H.ftype(f) == wire.SRK} | {s.sid}
            alive, fails, sent = True, 0, 0
            tries = 1 if suite == 3 else 3  # proof_tries: the default, 1 for suite 3
            for _ in range(min(budget, 1 + H._below(rnd, 3))):
                how, bad = HS.bad_proof(rnd, proof, points)
                code = HS.proof_code(bad, sid, suite, alive)
                bsid = H.fsid(bad)
                count("by_mutation", "PROOF " + how)
                res["by_class"]["PROOF"] += 1
                res["inputs"] += 1
                sent += 1
                mark = len(end.rx)
                end.send_frame(bad)
                got = answer(mark, bsid, (wire.ERROR, wire.KEY))
                for f in got[:1]:
                    count("proof_answers", code_name(f) if H.is_error_frame(f) else
                          wire.TYPE_NAMES[H.ftype(f)])
                if any(H.ftype(f) == wire.KEY for f in got):
                    res["wrong_keys"] += 1
                    mismatch("KEY for a changed PROOF %s (%s)" % (bad.hex(), how))
                elif bsid != sid and bsid in live:  # another slot's sid: its own verdict
                    pass
                elif got[:1] != [wire.build_error(bsid, code)]:
                    mismatch("PROOF %s (%s): expected %s, got %s" % (
                        bad.hex(), how, Code(code).name, [f.hex() for f in got]))
                if code in HS.COUNTED and alive:
                    fails += 1
                    alive = fails < tries
            mark = len(end.rx)
            end.send_frame(proof)
            got = answer(mark, sid, (wire.ERROR, wire.KEY))
            probe_fails[0] = 0 if alive else probe_fails[0] + 1
            if alive:
                if [H.ftype(f) for f in got[:1]] != [wire.KEY]:
                    mismatch("genuine PROOF after %d changed ones: %s" % (
                        sent, [f.hex() for f in got]))
                    return sent
                res["probe_keys"] += 1
                p.receive(got[0], end.now())
                p.close(end.now())  # CLOSE: the slot is freed
                for f in p.outputs():
                    end.send_frame(f)
            elif got[:1] != [wire.build_error(sid, Code.UNKNOWN_SESSION)]:
                mismatch("genuine PROOF after the slot was freed: %s" % [f.hex() for f in got])
            return sent

        if not handshake():
            raise RuntimeError("no handshake with the virtual board: %r"
                               % vb.output_tail()[-2000:])
        for i in range(4):
            echo(b"warm up %d" % i)
        points = H.hostile_points()
        # the templates of the mutated REQs: the siege record's, with a fresh
        # nonce each time (so that most take a slot), and one naming the record of
        # the other kind with the board's suite
        siege = SecondStation(SecondConfig(offer=[suite]), pairs["siege"].for_second(),
                              os.urandom, 0)
        other = wire.build_req(pairs["other"].id_s, os.urandom(12),
                               wire.suites_to_offer([suite]))

        def template(slot: int) -> bytes:
            if slot == 3:
                return other
            siege.connect(0, secret["siege"])
            req: bytes = siege.outputs()[0]
            return req
        mutate_req = H.field_mutator([pairs["siege"].id_s, pairs["other"].id_s])
        rnd = Drbg(seed + b" suite %d" % suite)
        i = step = 0
        while i < n:
            slot = step % PROOF_ROUND_EVERY
            step += 1
            if slot == 0:
                # suite 3: each round whose slot ends unaccepted is a failed attempt
                # of the probe record (15.10 item 5); a genuine round resets the
                # count before it reaches the back-off (10)
                changed = 0 if suite == 3 and probe_fails[0] >= 5 else n - i
                i += probe_round(rnd, changed)
            elif slot in (1, 2, 3):
                how, frame = mutate_req(rnd, template(slot), corpus + [other])
                count("by_mutation", "REQ " + how)
                res["by_class"]["REQ"] += 1
                end.send_frame(frame)
                res["inputs"] += 1
                i += 1
            else:
                how, frame = H.mutate(rnd, corpus[i % len(corpus)], corpus)
                count("by_mutation", how)
                res["by_class"]["DATA"] += 1
                if how == "zero" and i % 2:
                    junk = rnd(1 + int.from_bytes(rnd(1), "big"))
                    end.send_raw(junk)  # not even a link frame
                    res["garbage_bytes"] += len(junk)
                else:
                    end.send_frame(frame)
                res["inputs"] += 1
                i += 1
            if step % (5 * PROOF_ROUND_EVERY) == 0:
                end.run(0.05)
                echo(b"alive %d" % i)
                if progress and step % (50 * PROOF_ROUND_EVERY) == 0:
                    progress("serial fuzz, suite %d: %d inputs" % (suite, i))
        end.quiet(max(quiet_ms, 2 * res["srk_wait_ms"]))
        ok_after = echo(b"after the fuzz")
        s.close(end.now())
        end.flush()
        new_ok = handshake() and echo(b"new session")
        time.sleep(0.8)  # one more stats line
        tail = log_path.read_text(errors="replace")
        lines = [json.loads(line.split("EPHKEY ", 1)[1]) for line in tail.splitlines()
                 if "EPHKEY {" in line]
        stats = [x for x in lines if x.get("ev") == "stats"]
        established = [x for x in lines if x.get("ev") == "established"]
        res["board_stats"] = stats[-1] if stats else None
        res["rejected"] = stats[-1]["rejected"] if stats else {}
        res["board_events"] = {}
        for x in lines:
            if x.get("ev") in ("handshake_failed", "backoff"):
                name = x["ev"] + (":" + Code(x["arg"]).name if x["ev"] == "handshake_failed"
                                  and 1 <= x.get("arg", 0) <= max(Code) else "")
                count("board_events", name)
        # every session the board established is one of a genuine handshake
        res["established"] = len(established)
        res["wrong_accepts"] = len(established) - res["handshakes"] - res["probe_keys"]
        res["tracebacks"] = tail.count("Traceback")
        res["session_alive_after"] = ok_after
        res["new_session_after"] = new_ok
        res["boots"] = vb.boots
        res["host_peer_errors"] = sum(1 for e in end.events if e.name == "PEER_ERROR")
        for f in end.rx:  # what the board answered, on the wire
            if H.is_error_frame(f):
                count("answers", "ERROR " + code_name(f))
            elif H.ftype(f) == wire.SRK:
                count("answers", "SRK")
        return res
    finally:
        if end:
            end.close()
        vb.stop()
        sim.stop()
