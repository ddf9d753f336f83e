"""ephkey.pairing_store: the pairing file survives a power cut at any step (spec 15.7).

A simulated filesystem counts every step of a write (create, write, flush,
close, sync, rename, remove) and cuts the power at step k, for every k, on
a littlefs-like filesystem (rename replaces in one step) and a FAT-like one
(MicroPython's FAT rename: remove the target, then rename). A cut inside the
write keeps a prefix of the data (nothing, one byte, half, all but one). After
each cut, reading (which finishes an interrupted FAT rename) must give the old
pairing or the new one, never a damaged or missing file; a cut during that
recovery too. A writer that writes the file in place fails the same check,
which shows the check can fail.
"""

import os
import time

from ephkey import pairing_store
from ephkey.config import Pairing

OLD = (b"FIRST-01", [(b"SECOND01", bytes(range(32)))])
NEW = (b"FIRST-01", [(b"SECOND01", bytes(range(32))), (b"SECOND02", bytes(range(1, 33)))])
PREFIXES = ("none", "one", "half", "all-but-one")


class Cut(Exception):
    pass


class _Reader:
    def __init__(self, text):
        self.text = text

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def read(self):
        return self.text


class _Writer:
    def __init__(self, fs, path):
        self.fs = fs
        self.path = path

    def write(self, text):
        if self.fs.due():
            n = {"none": 0, "one": 1, "half": len(text) // 2,
                 "all-but-one": len(text) - 1}[self.fs.prefix]
            self.fs.files[self.path] += text[:n]
            raise Cut()
        self.fs.files[self.path] += text
        return len(text)

    def flush(self):
        self.fs.step()

    def close(self):
        self.fs.step()


class FakeFs:
    """Files in a dict; every operation is a step; the power goes at step ``budget``."""

    def __init__(self, files, fat, budget=None, prefix="half"):
        self.files = dict(files)
        self.fat = fat
        self.budget = budget
        self.prefix = prefix
        self.steps = 0

    def due(self):
        if self.budget is not None and self.steps >= self.budget:
            return True
        self.steps += 1
        return False

    def step(self):
        if self.due():
            raise Cut()

    def open(self, path, mode):
        if mode == "r":
            if path not in self.files:
                raise OSError(2)
            return _Reader(self.files[path])
        self.step()
        self.files[path] = ""
        return _Writer(self, path)

    def rename(self, a, b):
        if a not in self.files:
            raise OSError(2)
        if self.fat and b in self.files:
            self.step()  # FAT: the target is removed first ...
            del self.files[b]
        self.step()  # ... then the file renamed (littlefs: one step)
        self.files[b] = self.files.pop(a)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2)
        self.step()
        del self.files[path]

    def sync(self):
        self.step()


def _start(old, fat):
    fs = FakeFs({}, fat)
    if old is not None:
        pairing_store.save(old[0], old[1], "p.json", fs)
    return fs.files


def _state(files):
    try:
        return pairing_store.read("p.json", FakeFs(files, False))
    except pairing_store.NotPaired:
        return "damaged"


def _outcome(files, old):
    """What a board finds after the cut: old, new, or a failure."""
    fs = FakeFs(files, True)
    try:
        got = pairing_store.read("p.json", fs)
    except pairing_store.NotPaired:
        return "damaged"
    if got is None:
        return "old" if old is None else "lost"
    if got == (NEW[0], NEW[1]):
        return "new"
    if old is not None and got == (old[0], old[1]):
        return "old"
    return "other"


def _cuts(old, fat):
    """Every cut of a save; yields (step, prefix, files after the cut)."""
    base = _start(old, fat)
    k = 0
    while True:
        prefixes = PREFIXES
        done = False
        for prefix in prefixes:
            fs = FakeFs(base, fat, k, prefix)
            try:
                pairing_store.save(NEW[0], NEW[1], "p.json", fs)
            except Cut:
                yield k, prefix, fs.files
            else:
                done = True
                yield k, "none", fs.files
                break
        if done:
            return
        k += 1


def test_power_cut_at_every_step_leaves_old_or_new():
    for fat in (False, True):
        for old in (OLD, None):
            seen = {}
            steps = 0
            for k, prefix, files in _cuts(old, fat):
                steps = max(steps, k)
                got = _outcome(files, old)
                assert got in ("old", "new"), (fat, old is not None, k, prefix, got, files)
                seen[got] = seen.get(got, 0) + 1
            assert steps >= 5, steps  # create, write, flush, close, sync, rename(s), sync
            assert "new" in seen and "old" in seen, seen


def test_fat_rename_cut_is_recovered_from_the_tmp_file():
    # the cut between FAT's remove and rename: only p.json.tmp is there
    hit = 0
    for _k, _prefix, files in _cuts(OLD, True):
        if "p.json" not in files and "p.json.tmp" in files:
            hit += 1
            fs = FakeFs(files, True)
            assert pairing_store.read("p.json", fs) == (NEW[0], NEW[1])
            assert "p.json" in fs.files and "p.json.tmp" not in fs.files
    assert hit >= 1


def test_power_cut_during_the_recovery():
    checked = 0
    for fat in (False, True):
        for k, prefix, files in _cuts(OLD, fat):
            before = _outcome(files, OLD)
            for j in range(4):
                fs = FakeFs(files, fat, j)
                try:
                    pairing_store.read("p.json", fs)
                except Cut:
                    pass
                assert _outcome(fs.files, OLD) == before, (fat, k, prefix, j)
                checked += 1
    assert checked > 20


def test_read_cleans_a_stale_tmp_and_load_gives_pairings():
    files = _start(OLD, False)
    files["p.json.tmp"] = '{"format": 1, "se'  # a write cut early
    fs = FakeFs(files, False)
    assert pairing_store.read("p.json", fs) == (OLD[0], OLD[1])
    assert "p.json.tmp" not in fs.files
    (p,) = pairing_store.load("first", "p.json", fs)
    assert isinstance(p, Pairing) and p.id_f == b"FIRST-01" and p.id_s == b"SECOND01"
    (p,) = pairing_store.load("second", "p.json", fs)
    assert p.id_f == b"SECOND01" and p.id_s == b"FIRST-01"


def test_a_writer_in_place_fails_the_same_check():
    # the negative control: without the temporary file a cut damages the pairing
    base = _start(OLD, False)
    fs = FakeFs(base, False, 1, "half")
    try:
        f = fs.open("p.json", "w")
        f.write('{"format": 1, "self": "4649525354...')
    except Cut:
        pass
    assert _outcome(fs.files, OLD) == "damaged"


def test_record_first_adds_and_replaces_second_keeps_one():
    fs = FakeFs({}, False)
    pairing_store.record("first", b"FIRST-01", b"SECOND01", b"\x01" * 32, "p.json", fs)
    pairing_store.record("first", b"FIRST-01", b"SECOND02", b"\x02" * 32, "p.json", fs)
    pairing_store.record("first", b"FIRST-01", b"SECOND01", b"\x03" * 32, "p.json", fs)
    me, peers = pairing_store.read("p.json", fs)
    assert me == b"FIRST-01"
    assert peers == [(b"SECOND02", b"\x02" * 32), (b"SECOND01", b"\x03" * 32)]
    assert pairing_store.own_id("p.json", fs) == b"FIRST-01"
    assert pairing_store.peer_count("p.json", fs) == 2
    pairing_store.record("second", b"SECOND09", b"FIRST-01", b"\x04" * 32, "q.json", fs)
    pairing_store.record("second", b"SECOND09", b"FIRST-02", b"\x05" * 32, "q.json", fs)
    assert pairing_store.read("q.json", fs) == (b"SECOND09", [(b"FIRST-02", b"\x05" * 32)])


def test_user_records_of_suite_3_are_written_read_and_loaded():
    """15.10: F's record holds the user's secret, S's says "user": true."""
    import json

    fs = FakeFs({}, False)
    pairing_store.record("first", b"FIRST-01", b"SECOND01", b"\x01" * 32, "p.json", fs)
    pairing_store.record_user("first", b"SECOND02", "user pin 2718", path="p.json", fs=fs)
    doc = json.loads(fs.files["p.json"])
    assert doc["peers"][1] == {"id": "5345434f4e443032", "user": "757365722070696e2032373138"}
    ps1, user2 = pairing_store.load("first", "p.json", fs)
    assert ps1.user is None and bytes(ps1.ps) == b"\x01" * 32
    assert user2.user == bytearray(b"user pin 2718") and user2.id_s == b"SECOND02"
    assert user2.id_f == b"FIRST-01" and not user2.ps
    # S: no secret stored, and only this record
    pairing_store.record_user("second", b"FIRST-01", self_id=b"SECOND02", path="q.json", fs=fs)
    assert json.loads(fs.files["q.json"])["peers"] == [{"id": "46495253542d3031", "user": True}]
    (s,) = pairing_store.load("second", "q.json", fs)
    assert s.user == bytearray() and s.id_f == b"FIRST-01" and s.id_s == b"SECOND02"
    # what a record may not be
    for bad in (lambda: pairing_store.record_user("first", b"SECOND03", None, path="p.json",
                                                  fs=fs),
                lambda: pairing_store.record_user("first", b"SECOND03", "short", path="p.json",
                                                  fs=fs),
                lambda: pairing_store.record_user("second", b"FIRST-01", "a secret at S",
                                                  path="q.json", fs=fs),
                lambda: pairing_store.record_user("first", b"SECOND03", "user pin 2718",
                                                  path="none.json", fs=fs)):  # no identity
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError("accepted")
    # a file whose roles are swapped (true at F, a secret at S) does not load
    for role, path in (("first", "q.json"), ("second", "p.json")):
        try:
            pairing_store.load(role, path, fs)
        except pairing_store.NotPaired:
            continue
        raise AssertionError("loaded")


def test_full_first_station_refuses_a_33rd_peer():
    fs = FakeFs({}, False)
    peers = [(b"SECOND%02d" % i, bytes(32)) for i in range(pairing_store.MAX_PEERS)]
    pairing_store.save(b"FIRST-01", peers, "p.json", fs)
    try:
        pairing_store.record("first", b"FIRST-01", b"SECONDxx", bytes(32), "p.json", fs)
    except ValueError:
        pass
    else:
        raise AssertionError("a 33rd peer was stored")
    # replacing a known peer is fine
    pairing_store.record("first", b"FIRST-01", b"SECOND05", b"\x07" * 32, "p.json", fs)


def test_damaged_file_is_reported():
    for text in ("", "{", '{"format": 2, "self": "00", "peers": []}', "[1, 2]",
                 '{"format": 1, "self": "0011", "peers": [{"id": "00", "ps": "00"}]}'):
        fs = FakeFs({"p.json": text}, False)
        try:
            pairing_store.load("first", "p.json", fs)
        except pairing_store.NotPaired as e:
            assert "damaged" in str(e), e
            continue
        raise AssertionError("accepted %r" % text)
    try:
        pairing_store.load("first", "p.json", FakeFs({}, False))
    except pairing_store.NotPaired as e:
        assert "no pairing file" in str(e)
    else:
        raise AssertionError("no file accepted")


def test_real_filesystem_round_trip():
    path = "/tmp/ephkey_test_store_%d.json" % (time.ticks_ms() & 0xFFFFFF)
    try:
        pairing_store.save(OLD[0], OLD[1], path)
        pairing_store.record("first", OLD[0], b"SECOND02", bytes(range(1, 33)), path)
        assert pairing_store.read(path) == (NEW[0], NEW[1])
        try:
            os.stat(path + ".tmp")
        except OSError:
            pass
        else:
            raise AssertionError("the temporary file was left behind")
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass
