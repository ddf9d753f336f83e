"""Runs one firmware station inside MicroPython, driven one step at a time.

Shared by the vector tests (in-process) and by the host's cross-implementation
tests, which start ``micropython tests/firmware/step_driver.py`` and talk JSON
lines over stdin/stdout. A step has the shape of a vector step
(tests/vectors/README.md): ``{"t", "op", "in"|"payload"|"sid", "drain"?}``, op one
of connect (with ``"secret"``: hex for suite 3), receive, send, close, poll,
prepare, work (``work(t)`` called until
``busy()`` is False); the answer is ``{"out": [hex frames], "events":
[{"event", "sid", "arg", "payload"?}]}``. With ``"drain": false`` the station's
output queue is left as it is (``out`` is then ``[]``); the next step that
drains lists those frames first.
The first line configures the station:
``{"role": "F"|"S", "config": {...}, "pairings": [...]|"pairing": {...},
"rng_seed": hex|null, "t0": int}`` (a null seed means os.urandom).
"""

import json
import sys
from binascii import hexlify, unhexlify

from drbg import Drbg
from ephkey import events
from ephkey.config import FirstConfig, Pairing, SecondConfig
from ephkey.first import FirstStation
from ephkey.second import SecondStation


def _hex(b):
    return hexlify(b).decode()


def make_pairing(p, role="F"):
    """A record of the vectors' JSON: ``ps`` hex, or ``user`` (15.10): hex at
    F (the secret), ``true`` at S; S's copy of a record never holds the secret."""
    ids = unhexlify(p["id_f"]), unhexlify(p["id_s"])
    if "user" in p:
        user = p["user"]
        return Pairing(*ids, user=True if role == "S" or user is True else unhexlify(user))
    return Pairing(*ids, unhexlify(p["ps"]))


def make_station(role, config, pairing_json, seed_hex, t0):
    if seed_hex is None:
        import os
        rng = os.urandom
    else:
        rng = Drbg(unhexlify(seed_hex))
    if role == "F":
        pairs = [make_pairing(p) for p in pairing_json]
        return FirstStation(FirstConfig(**config), pairs, rng, t0)
    return SecondStation(SecondConfig(**config), make_pairing(pairing_json, "S"), rng, t0)


def step(st, role, s):
    """Apply one step; return (out frames as hex, events as dicts)."""
    op = s["op"]
    t = s["t"]
    if op == "receive":
        frame = unhexlify(s["in"])
        st.receive(frame, len(frame), t)
    elif op == "connect":  # suite 3: the secret the user gives (15.10)
        secret = s.get("secret")
        if secret is None:
            st.connect(t)
        else:
            st.connect(t, unhexlify(secret))
    elif op == "send":
        payload = unhexlify(s["payload"])
        if role == "F":
            st.send(s["sid"], payload, len(payload), t)
        else:
            st.send(payload, len(payload), t)
    elif op == "close":
        if role == "F":
            st.close(s["sid"], t)
        else:
            st.close(t)
    elif op == "poll":
        st.poll(t)
    elif op == "prepare":  # F only: create a suite-2 key pair's job if one is due (3.9)
        st.prepare(t)
    elif op == "work":  # the jobs to their end, all at tick t (4.7)
        while st.busy():
            st.work(t)
    else:
        raise ValueError("unknown op %r" % op)
    out = []
    if s.get("drain", True):
        n = st.next_output()
        while n:
            out.append(_hex(st.out[:n]))
            n = st.next_output()
    evs = []
    code = st.next_event()
    while code:
        e = {"event": events.NAMES[code], "sid": st.ev_sid, "arg": st.ev_arg}
        if code == events.DATA:
            e["payload"] = _hex(st.payload[:st.ev_len])
        evs.append(e)
        code = st.next_event()
    return out, evs


def main():
    setup = json.loads(sys.stdin.readline())
    role = setup["role"]
    st = make_station(role, setup["config"], setup.get("pairings", setup.get("pairing")),
                      setup.get("rng_seed"), setup.get("t0", 0))
    print(json.dumps({"ready": role}))
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        try:
            out, evs = step(st, role, json.loads(line))
            print(json.dumps({"out": out, "events": evs}))
        except Exception as e:  # report it; the peer decides what it means
            print(json.dumps({"exception": "%s: %s" % (type(e).__name__, e)}))


if __name__ == "__main__":
    main()
