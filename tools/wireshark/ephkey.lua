-- Wireshark dissector for ephkey: the link layer of docs/link.md (0x00
-- delimiters, COBS, CRC-32) and the protocol frames of docs/protocol.md,
-- version 2 (types 1-8 and 15, suites 1, 2 and 3; the device-pairing frames
-- 9-12 of section 15).
--
-- Captures: `ephkey sniff --pcapng FILE` or `tools/linksim.py --pcapng FILE`
-- (host/ephkey_host/pcapng.py). Each packet is one link-layer segment as it
-- was on the wire, delimiters included, link type LINKTYPE_USER0 (147);
-- interface "A->B" or "B->A" gives the direction.
--
--   wireshark -X lua_script:tools/wireshark/ephkey.lua capture.pcapng
--   tshark -X lua_script:tools/wireshark/ephkey.lua -r capture.pcapng -V
--
-- or copy this file into Wireshark's personal Lua plugins folder (Help >
-- About Wireshark > Folders). Filters: `ephkey_link.crc.status == 0` (bad
-- CRC), `ephkey.type == 5` (DATA), `ephkey.sid == 0x1234`, `ephkey.code`.
--
-- Written from the two specs; the host's decoder (host/ephkey_host/wire.py,
-- sniff.py) is checked against it field by field by
-- tests/host/test_wireshark.py.

local LINKTYPE_NAME = "USER0"
local MAX_FRAME = 276 -- docs/link.md 2.4
local RESIDUE = 0x2144DF1C -- CRC of a whole packet (frame || crc)

-- bit operations: Lua 5.2's bit32, else LuaBitOp's bit, else arithmetic
local bxor, band, rshift
if bit32 then
    bxor, band, rshift = bit32.bxor, bit32.band, bit32.rshift
elseif bit then
    local function u(x) return x % 4294967296 end
    bxor = function(a, b) return u(bit.bxor(a, b)) end
    band = function(a, b) return u(bit.band(a, b)) end
    rshift = function(a, n) return u(bit.rshift(a, n)) end
else
    bxor = function(a, b)
        local r, p = 0, 1
        while a > 0 or b > 0 do
            if a % 2 ~= b % 2 then r = r + p end
            a, b, p = math.floor(a / 2), math.floor(b / 2), p * 2
        end
        return r
    end
    band = function(a, m) return a % (m + 1) end -- m is 2^k - 1 here
    rshift = function(a, n) return math.floor(a / 2 ^ n) end
end

local CRC_TABLE = {}
for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
        if c % 2 == 1 then c = bxor(rshift(c, 1), 0xEDB88320) else c = rshift(c, 1) end
    end
    CRC_TABLE[i] = c
end

-- CRC-32/ISO-HDLC (docs/link.md 2.1) of a Lua table of byte values
local function crc32(bytes, n)
    local c = 0xFFFFFFFF
    for i = 1, n do
        c = bxor(rshift(c, 8), CRC_TABLE[band(bxor(c, bytes[i]), 0xFF)])
    end
    return bxor(c, 0xFFFFFFFF)
end

---------------------------------------------------------------------------
-- names (docs/protocol.md 3.2, 6, 15.3, 15.6)

local TYPE_NAMES = {
    [0] = "invalid", [1] = "REQ", [2] = "SRK", [3] = "PROOF", [4] = "KEY",
    [5] = "DATA", [6] = "REKEY", [7] = "KEY_ACK", [8] = "CLOSE",
    [9] = "PAIR_HELLO", [10] = "PAIR_REPLY", [11] = "PAIR_SHARE",
    [12] = "PAIR_CONFIRM", [13] = "reserved", [14] = "reserved", [15] = "ERROR",
}
local TYPE_DIR = {
    [1] = "S->F", [2] = "F->S", [3] = "S->F", [4] = "F->S", [6] = "F->S",
    [7] = "S->F", [9] = "S->F", [10] = "F->S", [11] = "S->F", [12] = "F->S",
}
local CODE_NAMES = {
    [0] = "OK", [1] = "MALFORMED", [2] = "BAD_VERSION", [3] = "BAD_SUITE",
    [4] = "BAD_TYPE", [5] = "UNEXPECTED", [6] = "UNKNOWN_SESSION",
    [7] = "UNKNOWN_PEER", [8] = "AUTH_FAILED", [9] = "BAD_PROOF",
    [10] = "SRK_EXPIRED", [11] = "BUSY", [12] = "REPLAY", [13] = "KEYS_EXHAUSTED",
    [14] = "TIMEOUT", [15] = "RNG_FAILURE", [16] = "BAD_KEY_INDEX",
    [17] = "TOO_LONG", [18] = "NOT_PAIRED", [19] = "REPLACED", [20] = "NOT_READY",
    [21] = "WRONG_CODE", [22] = "NOT_ARMED", [23] = "BACKOFF",
}
local SUITE_NAMES = {
    [1] = "EPHKEY1-AES128CCM8-SHA256-KW",
    [2] = "EPHKEY2-X25519-AES128CCM8-SHA256-KW",
    [3] = "EPHKEY3-CPACE-X25519-AES128CCM8-SHA256-KW",
}
local LINK_STATUS = {
    [0] = "delivered", [1] = "crc_error", [2] = "cobs_error", [3] = "runt",
    [4] = "too_long", [5] = "incomplete",
}
local CRC_STATUS = { [0] = "Bad", [1] = "Good" }

---------------------------------------------------------------------------
-- the link layer

local link = Proto("ephkey_link", "ephkey link layer (COBS, CRC-32)")
local lf = {
    direction = ProtoField.string("ephkey_link.direction", "Direction"),
    lead = ProtoField.uint8("ephkey_link.lead", "Leading delimiter", base.HEX),
    trail = ProtoField.uint8("ephkey_link.trail", "Trailing delimiter", base.HEX),
    cobs = ProtoField.bytes("ephkey_link.cobs", "COBS(frame || crc)"),
    cobs_len = ProtoField.uint16("ephkey_link.cobs_len", "Segment length", base.DEC),
    frame_len = ProtoField.uint16("ephkey_link.frame_len", "Frame length", base.DEC),
    crc = ProtoField.uint32("ephkey_link.crc", "CRC-32", base.HEX),
    crc_computed = ProtoField.uint32("ephkey_link.crc.computed", "CRC-32 computed", base.HEX),
    crc_status = ProtoField.uint8("ephkey_link.crc.status", "CRC status", base.DEC, CRC_STATUS),
    status = ProtoField.uint8("ephkey_link.status", "Receiver's verdict", base.DEC, LINK_STATUS),
}
link.fields = lf
local le = {
    crc_bad = ProtoExpert.new("ephkey_link.crc.bad", "Bad CRC: the receiver drops this segment",
        expert.group.CHECKSUM, expert.severity.ERROR),
    cobs_error = ProtoExpert.new("ephkey_link.cobs_error",
        "COBS error: a code byte points past the delimiter", expert.group.MALFORMED,
        expert.severity.ERROR),
    runt = ProtoExpert.new("ephkey_link.runt", "Runt: fewer than 4 decoded bytes",
        expert.group.MALFORMED, expert.severity.ERROR),
    too_long = ProtoExpert.new("ephkey_link.too_long", "Too long: more than max_frame + 4 bytes",
        expert.group.MALFORMED, expert.severity.ERROR),
    incomplete = ProtoExpert.new("ephkey_link.incomplete",
        "No trailing delimiter: the capture ended inside this segment",
        expert.group.SEQUENCE, expert.severity.WARN),
    no_lead = ProtoExpert.new("ephkey_link.no_lead",
        "No leading delimiter: the line started or a delimiter was lost before this segment",
        expert.group.SEQUENCE, expert.severity.NOTE),
}
link.experts = le
link.prefs.max_frame = Pref.uint("max_frame", MAX_FRAME, "Largest frame the receiver accepts (docs/link.md 2.4)")
link.prefs.bad_frames = Pref.bool("bad_frames", false, "Dissect the protocol frame of a segment that failed its CRC")

---------------------------------------------------------------------------
-- the protocol

local proto = Proto("ephkey", "ephkey protocol, version 2")
local F = {
    ver = ProtoField.uint8("ephkey.ver", "Version", base.DEC, nil, 0xF0),
    type = ProtoField.uint8("ephkey.type", "Type", base.DEC, TYPE_NAMES, 0x0F),
    sid = ProtoField.uint16("ephkey.sid", "Session id (sid)", base.HEX),
    run = ProtoField.uint16("ephkey.run", "Pairing run", base.HEX),
    id_s = ProtoField.bytes("ephkey.id_s", "id_s (second station's identity)"),
    id_f = ProtoField.bytes("ephkey.id_f", "id_f (first station's identity)"),
    n_s = ProtoField.bytes("ephkey.n_s", "n_s (second station's nonce)"),
    n_f = ProtoField.bytes("ephkey.n_f", "n_f (first station's nonce)"),
    offer = ProtoField.uint8("ephkey.offer", "Offer (suites S accepts)", base.HEX),
    offer_suites = ProtoField.string("ephkey.offer.suites", "Suites offered"),
    suite = ProtoField.uint8("ephkey.suite", "Suite", base.DEC, SUITE_NAMES),
    wrapped_srk = ProtoField.bytes("ephkey.wrapped_srk", "wrapped_srk = KW(KEK2, SRK)"),
    srk_pub = ProtoField.bytes("ephkey.srk_pub", "srk_pub (the interval's X25519 key)"),
    auth = ProtoField.bytes("ephkey.auth", "auth (HMAC under KA)"),
    y_f = ProtoField.bytes("ephkey.Y_f", "Y_f (CPace share of F)"),
    y_s = ProtoField.bytes("ephkey.Y_s", "Y_s (CPace share of S)"),
    e_pub = ProtoField.bytes("ephkey.e_pub", "e_pub (S's ephemeral X25519 key)"),
    c = ProtoField.bytes("ephkey.c", "c = SPV XOR pad"),
    t = ProtoField.bytes("ephkey.t", "t (HMAC under KP)"),
    wrapped_idrk = ProtoField.bytes("ephkey.wrapped_idrk", "wrapped_idrk = KW(KEK_0, IDRK_0)"),
    kidx = ProtoField.uint8("ephkey.kidx", "Key index (kidx)", base.DEC),
    seq = ProtoField.uint32("ephkey.seq", "Sequence (seq)", base.DEC),
    ciphertext = ProtoField.bytes("ephkey.ciphertext", "Ciphertext (ct)"),
    ct_len = ProtoField.uint16("ephkey.ct_len", "Ciphertext length", base.DEC),
    announces = ProtoField.uint8("ephkey.announces", "Announces key index (REKEY under j: j+1)",
        base.DEC),
    tag = ProtoField.bytes("ephkey.tag", "Tag (CCM)"),
    code = ProtoField.uint8("ephkey.code", "Error code", base.DEC, CODE_NAMES),
    tag_s = ProtoField.bytes("ephkey.tag_s", "tag_s (S's key confirmation)"),
    tag_f = ProtoField.bytes("ephkey.tag_f", "tag_f (F's key confirmation)"),
    roles = ProtoField.string("ephkey.roles", "Roles"),
}
proto.fields = F
local pe = {
    bad_version = ProtoExpert.new("ephkey.bad_version", "BAD_VERSION: ver is not 2",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_type = ProtoExpert.new("ephkey.bad_type", "BAD_TYPE: type 0, 13 or 14",
        expert.group.MALFORMED, expert.severity.ERROR),
    malformed = ProtoExpert.new("ephkey.malformed", "MALFORMED",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_suite = ProtoExpert.new("ephkey.bad_suite", "BAD_SUITE: not a defined suite",
        expert.group.MALFORMED, expert.severity.ERROR),
    error_frame = ProtoExpert.new("ephkey.error_frame", "ERROR frame",
        expert.group.RESPONSE_CODE, expert.severity.WARN),
}
proto.experts = pe

-- fixed layouts after byte 0: {field, offset, size}; 3.3-3.9, 15.3, 15.10
local SID = { F.sid, 1, 2 }
local RUN = { F.run, 1, 2 }
local LAYOUTS = {
    [1] = { len = 22, { F.id_s, 1, 8 }, { F.n_s, 9, 12 }, { F.offer, 21, 1 } },
    [4] = { len = 27, SID, { F.wrapped_idrk, 3, 24 } },
    [9] = { len = 21, { F.id_s, 1, 8 }, { F.n_s, 9, 12 } },
    [10] = { len = 55, RUN, { F.id_f, 3, 8 }, { F.n_f, 11, 12 }, { F.y_f, 23, 32 } },
    [11] = { len = 51, RUN, { F.y_s, 3, 32 }, { F.tag_s, 35, 16 } },
    [12] = { len = 19, RUN, { F.tag_f, 3, 16 } },
    [15] = { len = 4, SID, { F.code, 3, 1 } },
}
local SRK_LAYOUTS = { -- by the suite byte
    [1] = { len = 40, SID, { F.suite, 3, 1 }, { F.n_f, 4, 12 }, { F.wrapped_srk, 16, 24 } },
    [2] = { len = 64, SID, { F.suite, 3, 1 }, { F.n_f, 4, 12 }, { F.srk_pub, 16, 32 },
            { F.auth, 48, 16 } },
    [3] = { len = 80, SID, { F.suite, 3, 1 }, { F.n_f, 4, 12 }, { F.srk_pub, 16, 32 },
            { F.y_f, 48, 32 } },
}
local PROOF_LAYOUTS = { -- by the length
    [27] = { suite = 1, SID, { F.c, 3, 16 }, { F.t, 19, 8 } },
    [59] = { suite = 2, SID, { F.e_pub, 3, 32 }, { F.c, 35, 16 }, { F.t, 51, 8 } },
    [91] = { suite = 3, SID, { F.y_s, 3, 32 }, { F.e_pub, 35, 32 }, { F.c, 67, 16 },
             { F.t, 83, 8 } },
}
local PROTECTED = { [5] = true, [6] = true, [7] = true, [8] = true }
local PROTECTED_LEN = { [6] = 41, [7] = 16, [8] = 17 } -- DATA: 16 + payload

local function hexs(tvb, off, n)
    return tostring(tvb(off, n):bytes()):lower()
end

local function add_layout(tree, tvb, layout)
    for _, item in ipairs(layout) do
        tree:add(item[1], tvb(item[2], item[3]))
    end
end

local function offer_suites(offer)
    local out = {}
    for b = 0, 6 do
        if math.floor(offer / 2 ^ b) % 2 == 1 then out[#out + 1] = tostring(b + 1) end
    end
    return table.concat(out, ",")
end

-- one protocol frame; returns the Info text
local function dissect_frame(tvb, pinfo, root)
    local n = tvb:len()
    local tree = root:add(proto, tvb())
    if n == 0 then
        tree:add_proto_expert_info(pe.malformed, "MALFORMED: empty frame")
        return "empty frame"
    end
    local b0 = tvb(0, 1):uint()
    local ver, ftype = math.floor(b0 / 16), b0 % 16
    local name = TYPE_NAMES[ftype]
    tree:add(F.ver, tvb(0, 1))
    tree:add(F.type, tvb(0, 1))
    if TYPE_DIR[ftype] then
        tree:add(F.roles, TYPE_DIR[ftype]):set_generated()
    end
    tree:append_text(": " .. name)
    if ver ~= 2 then
        tree:add_proto_expert_info(pe.bad_version)
        return string.format("ver %d (not 2), %d bytes", ver, n)
    end
    if ftype == 0 or ftype == 13 or ftype == 14 then
        tree:add_proto_expert_info(pe.bad_type)
        return string.format("type %d, %d bytes", ftype, n)
    end
    local layout, want
    if ftype == 2 then
        if n < 4 then
            tree:add_proto_expert_info(pe.malformed, "MALFORMED: SRK frame shorter than 4 bytes")
            return "SRK, " .. n .. " bytes"
        end
        layout = SRK_LAYOUTS[tvb(3, 1):uint()]
        if not layout then
            tree:add(F.sid, tvb(1, 2))
            tree:add(F.suite, tvb(3, 1))
            tree:add_proto_expert_info(pe.bad_suite)
            return string.format("SRK suite %d (undefined)", tvb(3, 1):uint())
        end
        want = layout.len
    elseif ftype == 3 then
        layout = PROOF_LAYOUTS[n]
        want = "27, 59 or 91"
    elseif PROTECTED[ftype] then
        want = PROTECTED_LEN[ftype] or "16 or more"
        if (ftype == 5 and n >= 16) or n == PROTECTED_LEN[ftype] then
            layout = { SID, { F.kidx, 3, 1 }, { F.seq, 4, 4 } }
            if n > 16 then layout[#layout + 1] = { F.ciphertext, 8, n - 16 } end
            layout[#layout + 1] = { F.tag, n - 8, 8 }
        end
    else
        layout = LAYOUTS[ftype]
        want = layout.len
        if n ~= layout.len then layout = nil end
    end
    if not layout or (layout.len and layout.len ~= n) then
        if n >= 3 and ftype ~= 1 and ftype ~= 9 then
            tree:add((ftype >= 10 and ftype <= 12) and F.run or F.sid, tvb(1, 2))
        end
        tree:add_proto_expert_info(pe.malformed,
            string.format("MALFORMED: %s of %d bytes (%s expected)", name, n, tostring(want)))
        return string.format("%s, %d bytes: wrong length", name, n)
    end
    add_layout(tree, tvb, layout)

    -- fields computed from others, and the Info column
    if ftype == 1 then
        local offer = tvb(21, 1):uint()
        tree:add(F.offer_suites, offer_suites(offer)):set_generated()
        if offer == 0 or offer > 0x7F then
            tree:add_proto_expert_info(pe.malformed, "MALFORMED: offer 0 or bit 7 set")
        end
        return string.format("REQ id_s=%s offer=%s", hexs(tvb, 1, 8), offer_suites(offer))
    elseif ftype == 9 then
        local run = tvb(9, 2):uint()
        if run == 0 then run = 1 end
        tree:add(F.run, tvb(9, 2), run):set_generated()
        return string.format("PAIR_HELLO id_s=%s run=%04x", hexs(tvb, 1, 8), run)
    elseif ftype >= 10 and ftype <= 12 then
        local info = string.format("%s run=%04x", name, tvb(1, 2):uint())
        if ftype == 10 then info = info .. " id_f=" .. hexs(tvb, 3, 8) end
        return info
    end
    local info = string.format("%s sid=%04x", name, tvb(1, 2):uint())
    if ftype == 2 then
        return info .. string.format(" suite=%d", tvb(3, 1):uint())
    elseif ftype == 3 then
        return info .. string.format(" suite=%d", layout.suite)
    elseif ftype == 15 then
        local code = tvb(3, 1):uint()
        local cname = CODE_NAMES[code] or ("CODE_" .. code)
        tree:add_proto_expert_info(pe.error_frame, "ERROR frame: " .. cname)
        return info .. " code=" .. cname
    elseif PROTECTED[ftype] then
        local ct = n - 16
        tree:add(F.ct_len, ct):set_generated()
        if tvb(4, 4):uint() >= 0x40000000 then
            tree:add_proto_expert_info(pe.malformed, "MALFORMED: seq of 2^30 or more")
        end
        info = info .. string.format(" kidx=%d seq=%d", tvb(3, 1):uint(), tvb(4, 4):uint())
        if ftype == 5 then info = info .. string.format(" payload=%d", ct) end
        if ftype == 6 then
            -- protocol.md 3.7: REKEY sent under key j carries u8(j+1) (encrypted)
            tree:add(F.announces, tvb(3, 1):uint() + 1):set_generated()
            info = info .. string.format(" (announces key %d)", tvb(3, 1):uint() + 1)
        end
        return info
    end
    return info
end

---------------------------------------------------------------------------
-- the link layer: one segment per packet

local f_iface_name = Field.new("frame.interface_name")
local f_iface_id = Field.new("frame.interface_id")

local function direction()
    local name = f_iface_name()
    if name and (name.value == "A->B" or name.value == "B->A") then return name.value end
    local id = f_iface_id()
    if id then return id.value == 1 and "B->A" or "A->B" end
    return nil
end

function link.dissector(tvb, pinfo, root)
    pinfo.cols.protocol = "ephkey"
    local n = tvb:len()
    local tree = root:add(link, tvb())
    local dir = direction()
    if dir then
        tree:add(lf.direction, dir):set_generated()
        pinfo.cols.src = dir:sub(1, 1)
        pinfo.cols.dst = dir:sub(4, 4)
    end
    local first, last = 0, n - 1
    if n > 0 and tvb(0, 1):uint() == 0 then
        tree:add(lf.lead, tvb(0, 1))
        first = 1
    else
        tree:add_proto_expert_info(le.no_lead)
    end
    local trailing = last >= first and tvb(last, 1):uint() == 0
    if not trailing then last = n end
    local seg = last - first
    local status
    local out, k = {}, 0
    if seg > 0 then
        tree:add(lf.cobs, tvb(first, seg))
        tree:add(lf.cobs_len, seg):set_generated()
        -- COBS decode (docs/link.md 3.2): zero implied between blocks, except after 0xFF
        local limit = link.prefs.max_frame + 4
        local left, code = 0, 0
        for i = first, last - 1 do
            local b = tvb(i, 1):uint()
            if left > 0 then
                k = k + 1; out[k] = b; left = left - 1
            else
                if i > first and code ~= 0xFF then k = k + 1; out[k] = 0 end
                code, left = b, b - 1
            end
            if k > limit then status = 4; break end -- counted at that byte (link.md 3.2)
        end
        -- an unfinished segment has no verdict yet, whatever its last block
        if not status and trailing and left ~= 0 then status = 2 end
    end
    if not trailing then
        tree:add_proto_expert_info(le.incomplete)
        status = status or 5
    else
        tree:add(lf.trail, tvb(last, 1))
    end
    if seg == 0 then
        return
    end
    if not status and k < 4 then status = 3 end
    local dtvb
    if not status then
        local hex = {}
        for i = 1, k do hex[i] = string.format("%02x", out[i]) end
        dtvb = ByteArray.new(table.concat(hex)):tvb("Decoded packet (frame || crc)")
    end
    if not status and crc32(out, k) ~= RESIDUE then status = 1 end
    status = status or 0
    if dtvb and k >= 4 then
        tree:add(lf.frame_len, k - 4):set_generated()
        tree:add_le(lf.crc, dtvb(k - 4, 4))
        tree:add(lf.crc_computed, crc32(out, k - 4)):set_generated()
        tree:add(lf.crc_status, status == 1 and 0 or 1):set_generated()
    end
    tree:add(lf.status, status):set_generated()
    local arrow = dir and (dir .. " ") or ""
    if status == 1 then
        tree:add_proto_expert_info(le.crc_bad)
    elseif status == 2 then
        tree:add_proto_expert_info(le.cobs_error)
    elseif status == 3 then
        tree:add_proto_expert_info(le.runt)
    elseif status == 4 then
        tree:add_proto_expert_info(le.too_long)
    end
    if status == 0 or (status == 1 and link.prefs.bad_frames) then
        local info = dissect_frame(dtvb(0, k - 4):tvb(), pinfo, root)
        if status == 1 then info = "[bad CRC] " .. info end
        pinfo.cols.info = arrow .. info
    else
        pinfo.cols.info = arrow .. "[link: " .. LINK_STATUS[status] .. "] " .. seg .. " wire bytes"
    end
end

local encap = (wtap_encaps or wtap)[LINKTYPE_NAME]
DissectorTable.get("wtap_encap"):add(encap, link)
