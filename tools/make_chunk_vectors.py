"""Rewrite the BLE chunk sections of tests/vectors/link.json with the host code.

docs/link.md section 5 (chunk format 2: seq, ack, data; a window of 4
unacknowledged data chunks). The ``encode`` and ``decode`` sections are left
as they are. ``chunks``: the same sends (frames) as before, cut in the new
format; each scenario's receive order is rebuilt by its rule below, so that
"lost chunk inside the big frame" still loses a chunk inside the big frame.
``flow``: the window, op by op.

    python tools/make_chunk_vectors.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))

from ephkey_host.ble_chunks import ChunkReceiver, ChunkSender, FlowSender  # noqa: E402
from ephkey_host.link import LinkDecoder, encode_frame  # noqa: E402

VECTORS = ROOT / "tests" / "vectors" / "link.json"


def _starts(per_send: list[int]) -> list[int]:
    out, n = [], 0
    for k in per_send:
        out.append(n)
        n += k
    return out


def receive_order(name: str, per_send: list[int]) -> list[Any]:
    """The receive list of a scenario, from its name and the chunk counts per send."""
    n = sum(per_send)
    every = list(range(n))
    starts = _starts(per_send)
    rule = name.split(": ", 1)[1]
    if rule.startswith("clean") or rule.startswith("several frames per chunk (one send)") \
            or rule == "counter wraps past 255":
        return every
    if rule == "lost chunk inside the big frame":
        lost = starts[1] + (per_send[1] - 1) // 2
        return [i for i in every if i != lost]
    if rule == "duplicated chunk":
        d = starts[1] + (per_send[1] - 1) // 2
        return every[: d + 1] + [d] + every[d + 1:]
    if rule == "duplicated first and last chunk":
        return [0] + every + [n - 1]
    if rule == "several frames per chunk, one chunk lost":
        return [i for i in every if i != n // 2]
    if rule == "first chunk lost":
        return every[1:]
    if rule == "empty chunk, out-of-order chunk":
        return [0, "", 2, 1] + every[3:]
    if rule == "counter wraps, chunk 255 lost, chunk 256 duplicated":
        return every[:255] + [256, 256] + every[257:]
    if rule.startswith("256 chunks lost in a row"):
        return every[:5] + every[261:]
    if rule == "acknowledgements alone between chunks, a 1-byte chunk":
        out: list[Any] = []
        for i in every:
            out.append(i)
            out.append("%02x%02x" % (7, (i + 1) % 256))  # ack-only: its seq is not checked
        return out[:3] + ["07"] + out[3:]
    if rule == "data chunks carry acknowledgements":
        return every
    raise SystemExit("no receive rule for %r" % name)


def chunk_case(old: dict[str, Any]) -> dict[str, Any]:
    sender = ChunkSender(old["mtu"])
    chunks: list[bytes] = []
    per_send = []
    acks = old.get("acks") or [0] * len(old["sends"])
    for group, ack in zip(old["sends"], acks, strict=True):
        stream = b"".join(encode_frame(bytes.fromhex(f), old["max_frame"]) for f in group)
        part = sender.split(stream, ack)
        per_send.append(len(part))
        chunks += part
    receive = receive_order(old["name"], per_send)
    receiver = ChunkReceiver(LinkDecoder(old["max_frame"]))
    frames: list[bytes] = []
    for item in receive:
        frames += receiver.feed(chunks[item] if isinstance(item, int) else bytes.fromhex(item))
    case = {"name": old["name"], "mtu": old["mtu"], "max_frame": old["max_frame"],
            "sends": old["sends"]}
    if "acks" in old:
        case["acks"] = old["acks"]
    case.update({
        "chunks": [c.hex() for c in chunks],
        "receive": receive,
        "frames": [f.hex() for f in frames],
        "rx": receiver.counters.as_dict(),
        "link": receiver.decoder.counters.as_dict(),
    })
    return case


def flow_case(name: str, mtu: int, window: int, ops: list[list[Any]]) -> dict[str, Any]:
    """ops: ["send", frame hex] queues one frame; ["ack", n] is the peer's ack field;
    ["stamp", n] sets the ack this side puts in its chunks. After each op the
    sender emits every chunk the window lets out."""
    fs = FlowSender(mtu, window=window)
    stamp = 0
    out = []
    for op in ops:
        if op[0] == "send":
            fs.queue(encode_frame(bytes.fromhex(op[1])))
        elif op[0] == "ack":
            fs.on_ack(op[1])
        elif op[0] == "stamp":
            stamp = op[1]
        else:
            raise SystemExit("bad op %r" % (op,))
        out.append([c.hex() for c in fs.take(stamp)])
    return {"name": name, "mtu": mtu, "window": window, "ops": ops, "out": out,
            "in_flight": fs.in_flight, "acked": fs.acked, "bad_acks": fs.bad_acks}


def flows() -> list[dict[str, Any]]:
    big = bytes(range(1, 200)).hex()  # 199 bytes: 205 on the wire, 12 chunks at MTU 23
    small = "010f000000000005"
    cases = [
        flow_case("window of 4 at mtu 23: a big frame waits for acknowledgements", 23, 4, [
            ["send", big], ["ack", 2], ["ack", 4], ["stamp", 3], ["ack", 4], ["ack", 8],
            ["ack", 12]]),
        flow_case("acks that acknowledge nothing sent are ignored", 23, 4, [
            ["send", big], ["ack", 9], ["ack", 255], ["ack", 1], ["ack", 0], ["ack", 4]]),
        flow_case("frames queue behind each other, never in one chunk", 247, 4, [
            ["send", small], ["send", small], ["send", small], ["send", small],
            ["send", small], ["ack", 1], ["ack", 5]]),
        flow_case("window of 1", 185, 1, [
            ["send", big], ["send", small], ["ack", 1], ["ack", 2], ["ack", 3]]),
    ]
    # the counter wraps: 70 frames of 4 chunks each at mtu 23, acknowledged as they go
    ops: list[list[Any]] = []
    seq = 0
    for k in range(70):
        ops.append(["send", (bytes([k + 1]) * 40).hex()])
        seq = (seq + 3) % 256  # 40 bytes: 47 on the wire, 3 chunks at mtu 23
        ops.append(["ack", seq])
    cases.append(flow_case("the counter wraps while acknowledged", 23, 4, ops))
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    a = ap.parse_args()
    doc = json.loads(VECTORS.read_text())
    olds = [c for c in doc["chunks"]
            if c["name"].split(": ", 1)[1] not in ("acknowledgements alone between chunks, "
                                                   "a 1-byte chunk",
                                                   "data chunks carry acknowledgements")]
    extra = [
        {"name": "mtu 23: acknowledgements alone between chunks, a 1-byte chunk", "mtu": 23,
         "max_frame": 276, "sends": olds[0]["sends"]},
        {"name": "mtu 247: data chunks carry acknowledgements", "mtu": 247, "max_frame": 276,
         "sends": olds[0]["sends"], "acks": [0, 200, 17]},
    ]
    new = dict(doc)
    new["chunks"] = [chunk_case(c) for c in olds + extra]
    new["flow"] = flows()
    text = json.dumps(new, indent=1) + "\n"
    if a.check:
        same = VECTORS.read_text() == text
        print("link.json chunk sections are %s" % ("up to date" if same else "STALE"))
        return 0 if same else 1
    VECTORS.write_text(text)
    print("%s: %d chunk cases, %d flow cases" % (VECTORS, len(new["chunks"]), len(new["flow"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
