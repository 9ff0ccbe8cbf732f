"""Wire protocol between the load-cell microcontroller and the box (docs/loadcell-protocol.md).

One frame per sample instant of the four HX711 channels, 32 bytes, little-endian::

    off size  field
      0   2   sync 0xA5 0x5A
      2   1   version (1)
      3   1   payload length (26: bytes 4..29)
      4   4   seq, u32, +1 per sample, wraps
      8   4   device clock in microseconds, u32, wraps every ~71.6 min
     12  16   raw counts fl, fr, rl, rr: int32 each (sign-extended 24-bit HX711 values)
     28   2   status, u16 (STATUS_* bits)
     30   2   CRC-16/CCITT-FALSE of bytes 0..29 (binascii.crc_hqx(data, 0xFFFF))

``FrameDecoder`` is incremental: feed it whatever the serial port returned, get back the
frames completed so far. It resynchronises after garbage, truncated and corrupted frames.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from sensors.frame import PLATFORM_CHANNELS

SYNC = b"\xa5\x5a"
PROTOCOL_VERSION = 1
HEADER_SIZE = 4
PAYLOAD_SIZE = 26
FRAME_SIZE = HEADER_SIZE + PAYLOAD_SIZE + 2
CRC_INIT = 0xFFFF

_BODY = struct.Struct("<2sBBIIiiiiH")  # everything the CRC covers (bytes 0..29)
_CRC = struct.Struct("<H")

SEQ_MODULUS = 1 << 32
DEVICE_CLOCK_MODULUS = 1 << 32
COUNT_MIN, COUNT_MAX = -(1 << 23), (1 << 23) - 1

STATUS_TIMEOUT_SHIFT = 0
"""Bits 0..3: channel fl, fr, rl, rr was not ready in time; its count repeats the last good one."""
STATUS_SATURATED_SHIFT = 4
"""Bits 4..7: channel fl, fr, rl, rr is at the HX711's end of range (0x7FFFFF or 0x800000)."""
STATUS_BOOT = 1 << 8
"""Set on the first frame after a reset of the microcontroller (its seq is 0)."""
STATUS_TX_OVERFLOW = 1 << 9
"""The firmware dropped frames because its USB transmit buffer was full (seq still advanced)."""
STATUS_KNOWN_BITS = 0x3FF


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0; check 0x29B1."""
    return binascii.crc_hqx(data, CRC_INIT)


class DecodedFrame(NamedTuple):
    """One frame as the device sent it, plus what the decoder learned from its sequence number.

    ``lost_before`` is how many frames are missing between the previous frame and this one.
    ``restarted`` means the sequence went backwards or the device flagged a boot: the device
    reset, so ``lost_before`` is unknown (0) and its clock started again.
    """

    seq: int
    device_us: int
    counts: tuple[int, int, int, int]
    status: int
    lost_before: int = 0
    restarted: bool = False


def channels_flagged(status: int, shift: int) -> tuple[str, ...]:
    """Platform channel names whose bit is set in the 4-bit group of ``status`` at ``shift``."""
    return tuple(c for i, c in enumerate(PLATFORM_CHANNELS) if status >> (shift + i) & 1)


def encode_frame(seq: int, device_us: int, counts: Sequence[int], status: int = 0) -> bytes:
    """Build one 32-byte frame. ``seq`` and ``device_us`` are wrapped to u32 as the firmware does.

    Raises ValueError when a count is outside the HX711's signed 24-bit range or the status
    uses undefined bits.
    """
    if len(counts) != len(PLATFORM_CHANNELS):
        raise ValueError(f"expected {len(PLATFORM_CHANNELS)} counts, got {len(counts)}")
    for channel, count in zip(PLATFORM_CHANNELS, counts):
        if not COUNT_MIN <= count <= COUNT_MAX:
            raise ValueError(f"count for {channel} = {count} is outside the signed 24-bit "
                             f"range {COUNT_MIN}..{COUNT_MAX}")
    if status & ~STATUS_KNOWN_BITS or status < 0:
        raise ValueError(f"status 0x{status:04x} uses undefined bits "
                         f"(known: 0x{STATUS_KNOWN_BITS:04x})")
    body = _BODY.pack(SYNC, PROTOCOL_VERSION, PAYLOAD_SIZE, seq % SEQ_MODULUS,
                      device_us % DEVICE_CLOCK_MODULUS, *counts, status)
    return body + _CRC.pack(crc16(body))


@dataclass
class DecoderStats:
    """What the decoder had to throw away; every byte fed is either in a frame or discarded."""

    frames: int = 0
    crc_failures: int = 0
    bad_headers: int = 0
    bytes_discarded: int = 0
    seq_gaps: int = 0
    lost_frames: int = 0
    seq_restarts: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class FrameDecoder:
    """Incremental decoder with resynchronisation.

    Resync rule: find the sync bytes; a header with another version or length is a false
    sync (skip one byte); wait for the whole frame; if its CRC fails, count it, skip one byte
    and scan again, so a frame that started inside the corrupt one is still found. Bytes that
    end up in no frame are counted in ``stats.bytes_discarded``.
    """

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buffer = bytearray()
        self._last_seq: int | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes held back because they may be the start of a frame."""
        return len(self._buffer)

    def discard_pending(self) -> None:
        """Drop a partial frame (the port was closed under it). Sequence history is kept, so a
        device that kept counting while unplugged still shows how many frames were missed."""
        self.stats.bytes_discarded += len(self._buffer)
        self._buffer.clear()

    def feed(self, data: bytes) -> list[DecodedFrame]:
        buf = self._buffer
        buf += data
        frames: list[DecodedFrame] = []
        pos = 0
        while True:
            start = buf.find(SYNC, pos)
            if start < 0:
                keep = 1 if len(buf) > pos and buf[-1] == SYNC[0] else 0
                self.stats.bytes_discarded += len(buf) - keep - pos
                pos = len(buf) - keep
                break
            self.stats.bytes_discarded += start - pos
            pos = start
            if len(buf) - pos < HEADER_SIZE:
                break
            if buf[pos + 2] != PROTOCOL_VERSION or buf[pos + 3] != PAYLOAD_SIZE:
                self.stats.bad_headers += 1
                self.stats.bytes_discarded += 1
                pos += 1
                continue
            if len(buf) - pos < FRAME_SIZE:
                break
            body = bytes(buf[pos:pos + _BODY.size])
            (crc,) = _CRC.unpack_from(buf, pos + _BODY.size)
            if crc16(body) != crc:
                self.stats.crc_failures += 1
                self.stats.bytes_discarded += 1
                pos += 1
                continue
            frames.append(self._accept(body))
            pos += FRAME_SIZE
        del buf[:pos]
        return frames

    def _accept(self, body: bytes) -> DecodedFrame:
        _, _, _, seq, device_us, fl, fr, rl, rr, status = _BODY.unpack(body)
        lost, restarted = 0, False
        if self._last_seq is not None:
            step = (seq - self._last_seq) % SEQ_MODULUS
            if status & STATUS_BOOT or step == 0 or step > SEQ_MODULUS // 2:
                restarted = True
                self.stats.seq_restarts += 1
            elif step > 1:
                lost = step - 1
                self.stats.seq_gaps += 1
                self.stats.lost_frames += lost
        self._last_seq = seq
        self.stats.frames += 1
        return DecodedFrame(seq, device_us, (fl, fr, rl, rr), status, lost, restarted)
