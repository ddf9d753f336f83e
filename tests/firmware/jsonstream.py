"""Test vectors out of a JSON file one piece at a time.

A vector file is one JSON object whose values are mostly arrays of cases.
Parsed whole, tests/vectors/link.json (240 KB) or sha512.json (130 KB) is
more than the emulated board's 140 KiB heap holds; so one pass over the file
notes where each top-level value, and each element of an array value, begins
and ends, and a test then parses only the piece it is at:

    for case in items("tests/vectors/sha512.json", "random"):
        ...
    crc = value("tests/vectors/link.json", "crc")

The pass reads the file in small blocks and keeps only offsets (a few ints
per case); the spans of a file are kept for the module's later tests. The
same code runs on the unix port, so both VMs check the same cases.
"""

import json

_BLOCK = 1024
_WHOLE = 4096  # longest piece of text parsed at once
_SPACE = b" \t\r\n"
_spans = {}  # path: {key: (start, end, element spans or None)}


def _scan(f, start=0, end=-1):
    """The values of the JSON object at f[start:end] (end -1: the file's end):
    {key: (start, end, element spans if the value is an array, else None)}."""
    top = {}
    depth = 0  # 1 inside the object, 2 inside one of its values
    in_str = esc = False
    name = None  # the raw bytes of a string being read at depth 1 (a key, or a value)
    last = None  # the last such string: the key, once ':' follows it
    key = None  # the key whose value is being read
    vstart = -1  # where that value begins
    elems = None  # its element spans, if it is an array
    estart = -1  # where the current element begins
    buf = bytearray(_BLOCK)
    mv = memoryview(buf)
    pos = start
    f.seek(start)
    while end < 0 or pos < end:
        n = f.readinto(mv if end < 0 or end - pos >= _BLOCK else mv[:end - pos])
        if not n:
            break
        i = 0
        while i < n:
            if in_str:
                if esc:  # the byte after a backslash: never the string's end
                    if name is not None:
                        name += buf[i:i + 1]
                    esc = False
                    i += 1
                    continue
                q = buf.find(b'"', i, n)
                b = buf.find(b"\\", i, n)
                if b >= 0 and (q < 0 or b < q):
                    if name is not None:
                        name += buf[i:b + 1]
                    esc = True
                    i = b + 1
                    continue
                if q < 0:
                    if name is not None:
                        name += buf[i:n]
                    i = n
                    continue
                if name is not None:
                    name += buf[i:q]
                    last = bytes(name)
                    name = None
                in_str = False
                i = q + 1
                continue
            c = buf[i]
            if c in _SPACE:
                i += 1
                continue
            at = pos + i
            if depth == 1 and key is not None and vstart < 0:
                vstart = at
                if c == 0x5B:  # [
                    elems = []
            elif depth == 2 and elems is not None and estart < 0 and c not in b",]":
                estart = at
            if c == 0x22:  # "
                in_str = True
                if depth == 1:
                    name = bytearray()
            elif c == 0x7B or c == 0x5B:  # { [
                depth += 1
            elif c == 0x7D or c == 0x5D:  # } ]
                depth -= 1
                if depth == 1 and key is not None:  # the value's own bracket
                    if elems is not None and estart >= 0:
                        elems.append((estart, at))
                    top[key] = (vstart, at + 1, elems)
                    key = None
                elif depth == 0 and key is not None:  # a last value that is no container
                    top[key] = (vstart, at, None)
                    key = None
            elif c == 0x2C:  # ,
                if depth == 2 and elems is not None and estart >= 0:
                    elems.append((estart, at))
                    estart = -1
                elif depth == 1 and key is not None:  # a value that is no container
                    top[key] = (vstart, at, None)
                    key = None
            elif c == 0x3A and depth == 1:  # :
                key = json.loads(b'"' + last + b'"')
                vstart = -1
                elems = None
                estart = -1
            i += 1
        pos += n
    if depth != 0 or in_str:
        raise ValueError("not one whole JSON object at %d..%d" % (start, end))
    return top


def _span(path, key):
    top = _spans.get(path)
    if top is None:
        with open(path, "rb") as f:
            top = _spans[path] = _scan(f)
    return top[key]


def _load(f, span, elems=None):
    """The value at f[span]: parsed whole when short, else built from its parts
    (an array's elements, an object's values), so that no piece of text bigger
    than _WHOLE is ever read at once: a heap with 100 KB free may not have one
    free block of 35 KB."""
    start, end = span[0], span[1]
    if end - start > _WHOLE:
        if elems is not None:
            return [_load(f, e) for e in elems]
        f.seek(start)
        if f.read(1) == b"{":
            top = _scan(f, start, end)
            return {k: _load(f, v, v[2]) for k, v in top.items()}
    f.seek(start)
    return json.loads(f.read(end - start))


def value(path, key):
    """doc[key], parsed alone."""
    with open(path, "rb") as f:
        span = _span(path, key)
        return _load(f, span, span[2])


def count(path, key):
    """len(doc[key]) of an array value, without parsing it."""
    return len(_span(path, key)[2])


def items(path, key, start=0, stop=None):
    """doc[key][start:stop], an array value's elements, one parsed at a time."""
    elems = _span(path, key)[2]
    if elems is None:
        raise TypeError("%s: %s is not an array" % (path, key))
    with open(path, "rb") as f:
        for span in elems[start:stop]:
            yield _load(f, span)
