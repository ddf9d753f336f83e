"""AES-CCM (RFC 3610 / SP 800-38C) on what every board has: cryptolib AES
(ECB, CBC). The allocating HMAC-SHA256 and HKDF-SHA256 of device pairing are
hkdf.py's.

Protected frames go through
CcmKey + CcmEngine, which allocate nothing per frame (the stations' key wrap
is mac.KeyWrap; an allocating CCM and key wrap, which only tests need, are
tests/firmware/ccm_ref.py). Boards have no CTR or
CCM mode, so CCM is built from two native calls per frame, both made from one
viper call (_ccm.py):
- the CBC-MAC is one cbc.encrypt over B0 || AAD blocks || payload blocks;
- the CTR keystream is one ecb.encrypt over a buffer of counter blocks.
Every argument may be bytes, bytearray or memoryview unless it is written to.
"""

import cryptolib
from micropython import const

from . import mac

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from circuitpython_typing import ReadableBuffer, WriteableBuffer

_ECB = const(1)
_CBC = const(2)
_NONCE = const(13)  # the engine's nonce: L = 2, so payloads stay below 64 KiB
_AAD_LIMIT = const(0xFF00)  # from here on RFC 3610 needs a 6- or 10-byte length
_ZERO16 = bytes(16)


# One CCM pass of a CcmEngine (CcmEngine.seal/open call them; arguments: see
# _ccm.py): the viper code, or its Python twins (_ccm_py.py) on a port without
# a native emitter.
seal_frame: Any
open_frame: Any
VIPER = False  # _ccm.py loaded: this port has the viper emitter
if not TYPE_CHECKING:  # mypy's micropython stub types viper functions as NoReturn
    try:
        from ._ccm import open as open_frame, seal as seal_frame

        VIPER = True
    except (ImportError, SyntaxError, ValueError):
        # SyntaxError: this port has no viper emitter; ValueError: an .mpy
        # built for another architecture. Only then do the Python twins ship
        # (tools/closure.py leaves them out of builds for an arch with viper).
        from ._ccm_py import open as open_frame, seal as seal_frame


# ------------------------------------------------- CCM, zero allocation

class CcmKey:
    """One AES key, ready for CcmEngine: an ECB object and a CBC object.

    A cryptolib CBC object cannot be given a new IV: each encrypt() starts from
    the last ciphertext block of the previous call (both the mbedTLS and the
    axTLS build store it back). ``chain`` keeps a copy of that block so the
    engine can XOR it into B0 and so start every CBC-MAC from a zero IV.
    """

    def __init__(self, key: "ReadableBuffer | None" = None):
        self.chain = bytearray(16)
        self.ecb: Any = None
        self.cbc: Any = None
        self.loaded = False
        if key is not None:
            self.load(key)

    def load(self, key: ReadableBuffer) -> None:
        """Install a key (16 or 32 bytes). Allocates: call at key install only."""
        if len(key) not in (16, 32):
            raise ValueError("key length")
        self.ecb = cryptolib.aes(key, _ECB)
        self.cbc = cryptolib.aes(key, _CBC, _ZERO16)
        # mbedTLS builds defer the key schedule to the first call: run both
        # now, so the first frame does not pay for it. Then check the chaining
        # the engine relies on: fed its own last output block, a CBC object
        # that carries its IV over must answer E(0) again.
        e0 = bytearray(16)
        probe = bytearray(16)
        self.ecb.encrypt(_ZERO16, e0)
        self.cbc.encrypt(_ZERO16, self.chain)
        self.cbc.encrypt(self.chain, probe)
        if probe != e0 or self.chain != e0:
            self.wipe()
            raise RuntimeError("cryptolib CBC does not chain across calls")
        self.loaded = True

    def wipe(self) -> None:
        """Forget the key. No copy of it is kept here; the key schedule inside
        the cryptolib objects cannot be zeroed from Python, so they are dropped
        and the GC reuses that memory."""
        self.ecb = None
        self.cbc = None
        mac.zero(self.chain, 0, 16)
        self.loaded = False


class CcmEngine:
    """CCM with 13-byte nonces (L = 2) over preallocated scratch buffers.

    One engine serves any number of CcmKeys, one frame at a time (seal and
    open never yield, so asyncio tasks may share it). A frame is one call
    into _ccm.py (viper), which writes the counter blocks, B0, the AAD and
    the payload into this engine's scratch and makes both AES calls on views
    of it made here, once per block count. Nothing is allocated per frame.
    ephkey.channel writes a protected frame's header and nonce (mac.frame_head)
    and makes one CCM pass here.
    """

    def __init__(self, max_payload: int, max_aad: int):
        if not 0 <= max_payload <= 0xFFFF:
            raise ValueError("max_payload")
        if not 0 <= max_aad < _AAD_LIMIT:
            raise ValueError("max_aad")
        self.max_payload = max_payload
        self.max_aad = max_aad
        p_blocks = (max_payload + 15) >> 4
        a_blocks = (max_aad + 2 + 15) >> 4 if max_aad else 0
        # Four words (the limits, where the MAC input starts, the index of its
        # first view) for _ccm.py; counter blocks A_0 .. A_m (encrypted in
        # place: the keystream); B0 || AAD blocks || payload blocks
        # (CBC-encrypted in place).
        mac = 16 + 16 * (p_blocks + 1)
        self._s = s = bytearray(mac + 16 * (1 + a_blocks + p_blocks))
        first = p_blocks + 2
        for i, v in enumerate((max_payload, max_aad, mac, first)):
            s[4 * i:4 * i + 4] = v.to_bytes(4, "little")
        mv = memoryview(s)
        self._views = [mv[16:16 + 16 * k] for k in range(first)]
        self._nonce = bytearray(_NONCE)  # ephkey.channel's nonce when the caller has none
        for k in range(2 + a_blocks + p_blocks):
            self._views.append(mv[mac:mac + 16 * k])

    def seal(self, ck: CcmKey, nonce: ReadableBuffer, buf: WriteableBuffer, aad_len: int,
             pt: ReadableBuffer, pt_len: int, tag_len: int) -> int:
        """Encrypt pt[0:pt_len] into buf after the AAD buf[0:aad_len]; append the tag.

        Return the frame length aad_len + pt_len + tag_len. pt may be
        buf[aad_len:] itself (in-place encryption). A read-only buf raises
        TypeError.
        """
        return seal_frame(self, ck, nonce, buf, aad_len, tag_len, pt, pt_len)

    def open(self, ck: CcmKey, nonce: ReadableBuffer, buf: ReadableBuffer, aad_len: int,
             frame_len: int, pt_out: WriteableBuffer, tag_len: int) -> int:
        """Check and decrypt the frame buf[0:frame_len] (AAD, ciphertext, tag).

        Return the plaintext length n, with the plaintext in pt_out[0:n]; or -1
        when the tag is wrong, with pt_out[0:n] zeroed. pt_out receives
        nothing else before the tag has been checked; it may be buf[aad_len:].
        """
        return open_frame(self, ck, nonce, buf, frame_len, aad_len, tag_len, pt_out)

    def wipe(self) -> None:
        """Zero the scratch (keystream and CBC output of the last frame)."""
        mac.zero(self._s, 16, len(self._s) - 16)
