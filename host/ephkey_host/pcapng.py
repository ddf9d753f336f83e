"""pcapng captures of an ephkey serial line, for Wireshark and tshark.

:class:`PcapngWriter` writes the three block types a capture needs
(pcapng, draft-ietf-opsawg-pcapng): a Section Header Block, one Interface
Description Block per direction of the line, and one Enhanced Packet Block per
packet, little-endian, timestamps in microseconds (the default ``if_tsresol``).

:class:`LineCapture` turns what ``tools/linksim.py``'s tap delivers,
``(t_us, direction, data)`` runs of bytes, into packets: one per link-layer
segment (docs/link.md 2.3), *as on the wire*: its leading delimiter (when one
came before it), the COBS bytes, and its trailing delimiter. Nothing is
decoded here, so a corrupted frame reaches the capture as it was on the line
and the dissector (``tools/wireshark/ephkey.lua``) shows its CRC verdict.
A packet's timestamp is when its last byte (the trailing delimiter) ended,
and packets are written in the order of their timestamps across both
directions (a run of several frames on one direction can end after a frame
of the other direction that started later; tap runs never start earlier than
the previous one, so a packet is written once a run starts at or after its
time, the rest at :meth:`LineCapture.idle` or :meth:`LineCapture.close`).
Delimiters that are idle line (more than one between two segments) go in no
packet; bytes still without their trailing delimiter when the capture closes
form a last packet of their own, without it, and so does every
:data:`MAX_PACKET` bytes of a segment that goes on that long (noise, a wrong
baud rate), so memory stays bounded.

Link type: ``LINKTYPE_USER0`` (147). The USER0..15 link types are the ones
tcpdump.org reserves for private link layers, which this is (COBS, CRC-32,
0x00 delimiters carrying the ephkey protocol), and Wireshark hands them to a
dissector registered for the ``wtap_encap`` value ``USER0``, which
``ephkey.lua`` does. ``WIRESHARK_UPPER_PDU`` (252) would need each packet
wrapped in exported-PDU tags naming a dissector, and is meant for PDUs that
a dissector extracted from another protocol, not for a raw line.

Directions are interfaces: interface 0 is ``A->B`` (bytes side A sent), 1 is
``B->A``, named so in ``if_name``, so Wireshark's ``frame.interface_name``
tells them apart without relying on ``epb_flags`` (whose inbound/outbound
bits need a local end, which a tap between two stations does not have).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

LINKTYPE_USER0 = 147
LINKTYPE_EPHKEY = LINKTYPE_USER0

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
OPT_COMMENT = 1
OPT_SHB_USERAPPL = 4
OPT_IF_NAME = 2
OPT_IF_DESCRIPTION = 3
OPT_IF_TSRESOL = 9

DIRECTIONS = ("AB", "BA")
MAX_PACKET = 4096  # wire bytes of a segment kept in one packet (a frame's are at most 284)
INTERFACE_NAMES = {"AB": "A->B", "BA": "B->A"}
DELIMITER = 0


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(_pad4(len(value)))


def _options(opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    return b"".join(_option(c, v) for c, v in opts) + struct.pack("<HH", OPT_END, 0)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    assert total % 4 == 0
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


class PcapngWriter:
    """A pcapng file of one section: ``add_interface`` then ``packet`` calls.

    ``out`` is a binary file object; every block is written whole, and
    :meth:`flush` flushes it, so a capture being written can be read at any
    block boundary (e.g. by a live ``tail -f`` into Wireshark).
    """

    def __init__(self, out: BinaryIO, application: str = "ephkey_host",
                 comment: str | None = None) -> None:
        self.out = out
        self.interfaces: list[int] = []  # link type of each interface id
        opts = [(OPT_SHB_USERAPPL, application.encode())]
        if comment:
            opts.append((OPT_COMMENT, comment.encode()))
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)  # -1: section length unknown
        self.out.write(_block(BT_SHB, body + _options(opts)))

    def add_interface(self, name: str, description: str = "",
                      linktype: int = LINKTYPE_EPHKEY, snaplen: int = 0) -> int:
        """An Interface Description Block; returns the interface id for :meth:`packet`."""
        opts = [(OPT_IF_NAME, name.encode())]
        if description:
            opts.append((OPT_IF_DESCRIPTION, description.encode()))
        opts.append((OPT_IF_TSRESOL, bytes((6,))))  # 10^-6 s, stated for readers that ask
        body = struct.pack("<HHI", linktype, 0, snaplen)
        self.out.write(_block(BT_IDB, body + _options(opts)))
        self.interfaces.append(linktype)
        return len(self.interfaces) - 1

    def packet(self, interface: int, t_us: int, data: bytes, comment: str | None = None) -> None:
        """An Enhanced Packet Block: ``data`` captured whole on ``interface`` at ``t_us``."""
        if not 0 <= interface < len(self.interfaces):
            raise ValueError("no interface %d" % interface)
        if t_us < 0:
            raise ValueError("negative timestamp")
        opts = [(OPT_COMMENT, comment.encode())] if comment else []
        body = struct.pack("<IIIII", interface, t_us >> 32, t_us & 0xFFFFFFFF,
                           len(data), len(data))
        body += bytes(data) + bytes(_pad4(len(data))) + _options(opts)
        self.out.write(_block(BT_EPB, body))

    def flush(self) -> None:
        self.out.flush()


class LineCapture:
    """Tap runs in, one pcapng packet per link-layer segment out (module docstring).

    ``byte_us`` is the line's byte time (the tap's ``hello``); byte i of a run
    that starts at ``t_us`` ended at ``t_us + i * byte_us``. ``origin_us`` is
    added to every timestamp (the tap counts from the simulator's start; pass
    the wall-clock time of that start, in microseconds since 1970, for
    absolute times, or leave 0).
    """

    def __init__(self, writer: PcapngWriter, byte_us: float, origin_us: int = 0,
                 description: str = "ephkey serial line") -> None:
        self.writer = writer
        self.byte_us = byte_us
        self.origin_us = origin_us
        self.iface = {d: writer.add_interface(INTERFACE_NAMES[d], "%s, %s" % (
            description, INTERFACE_NAMES[d])) for d in DIRECTIONS}
        self._seg = {d: bytearray() for d in DIRECTIONS}
        self._lead = {d: False for d in DIRECTIONS}  # a delimiter precedes the segment
        self._last_us = {d: 0.0 for d in DIRECTIONS}
        self._held: list[tuple[int, int, int, bytes]] = []  # (t_us, order, iface, wire)
        self.packets = 0

    def feed(self, t_us: float, direction: str, data: bytes) -> int:
        """One tap run; returns how many packets it completed."""
        if direction not in DIRECTIONS:
            raise ValueError("direction must be AB or BA, not %r" % (direction,))
        seg = self._seg[direction]
        done = 0
        start = 0
        while start < len(data):
            end = data.find(DELIMITER, start)
            if end < 0 or end - start + len(seg) > MAX_PACKET:
                # no delimiter (yet): keep the bytes, cut into packets of at most
                # MAX_PACKET on a line that never sends one
                take = min(len(data) - start, MAX_PACKET - len(seg))
                seg += data[start:start + take]
                start += take
                if len(seg) == MAX_PACKET:
                    self._emit(direction, t_us + (start - 1) * self.byte_us, trailing=False)
                    done += 1
                continue
            if end > start or seg:
                seg += data[start:end]
                self._emit(direction, t_us + end * self.byte_us, trailing=True)
                done += 1
            else:
                self._lead[direction] = True  # a delimiter before any segment byte
            start = end + 1
        if data:
            self._last_us[direction] = t_us + (len(data) - 1) * self.byte_us
        self._release(self.origin_us + t_us)
        self.writer.flush()
        return done

    def idle(self) -> None:
        """The line has been quiet (in real time): no run can start before the
        packets held back, so write them."""
        self._release(float("inf"))
        self.writer.flush()

    def close(self) -> None:
        """Write what is left of each direction (a segment whose delimiter never came)."""
        for d in DIRECTIONS:
            if self._seg[d]:
                self._emit(d, self._last_us[d], trailing=False)
        self._release(float("inf"))
        self.writer.flush()

    def _emit(self, direction: str, t_us: float, trailing: bool) -> None:
        seg = self._seg[direction]
        wire = (b"\x00" if self._lead[direction] else b"") + bytes(seg) + (
            b"\x00" if trailing else b"")
        self._held.append((self.origin_us + round(t_us), self.packets, self.iface[direction], wire))
        seg[:] = b""
        self._lead[direction] = False
        self.packets += 1

    def _release(self, upto_us: float) -> None:
        """Write the held packets stamped at or before ``upto_us``, in time order."""
        self._held.sort()
        n = 0
        while n < len(self._held) and self._held[n][0] <= upto_us:
            t_us, _, iface, wire = self._held[n]
            self.writer.packet(iface, t_us, wire)
            n += 1
        del self._held[:n]
