"""Load-cell wire protocol: layout, CRC, resynchronisation, sequence accounting."""
from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest

from sensors.loadcell_protocol import (
    COUNT_MAX,
    COUNT_MIN,
    FRAME_SIZE,
    STATUS_BOOT,
    STATUS_TIMEOUT_SHIFT,
    SYNC,
    FrameDecoder,
    channels_flagged,
    crc16,
    encode_frame,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "loadcell-protocol.md"


def random_frames(rng: random.Random, n: int, first_seq: int = 0, first_us: int = 0):
    """(seq, device_us, counts, status) for n consecutive frames at 80 Hz."""
    return [((first_seq + i) % 2**32, (first_us + 12_500 * i) % 2**32,
             tuple(rng.randint(COUNT_MIN, COUNT_MAX) for _ in range(4)), 0) for i in range(n)]


def encode_all(frames) -> bytes:
    return b"".join(encode_frame(*f) for f in frames)


def garbage(rng: random.Random, n: int) -> bytes:
    """Random bytes that contain no sync byte, so none of them can start a frame."""
    return bytes(rng.choice([b for b in range(256) if b != SYNC[0]]) for _ in range(n))


def decoded_fields(decoded):
    return [(d.seq, d.device_us, d.counts, d.status) for d in decoded]


def test_crc_is_ccitt_false_with_the_documented_check_value():
    assert crc16(b"123456789") == 0x29B1
    assert "0x29B1" in DOC.read_text()


def test_layout_matches_the_documented_offsets():
    frame = encode_frame(0x01020304, 0xA0B0C0D0, (-5, 6, -7, 8), 1 << 9)
    assert len(frame) == FRAME_SIZE == 32
    assert frame[0:2] == b"\xa5\x5a" and frame[2] == 1 and frame[3] == 26
    assert struct.unpack_from("<I", frame, 4)[0] == 0x01020304
    assert struct.unpack_from("<I", frame, 8)[0] == 0xA0B0C0D0
    assert struct.unpack_from("<4i", frame, 12) == (-5, 6, -7, 8)
    assert struct.unpack_from("<H", frame, 28)[0] == 1 << 9
    assert struct.unpack_from("<H", frame, 30)[0] == crc16(frame[:30])


def test_documented_example_frame_is_what_encode_frame_produces():
    text = DOC.read_text()
    fields = re.search(r"seq=(\d+), t_us=(\d+), counts=\(([-\d, ]+)\), status=(0x[0-9A-Fa-f]+)",
                       text)
    hex_block = re.search(r"```text\n((?:[0-9a-f]{2} ?)+)\n```", text)
    assert fields and hex_block, "example frame section missing from docs/loadcell-protocol.md"
    counts = tuple(int(c) for c in fields.group(3).split(","))
    expected = encode_frame(int(fields.group(1)), int(fields.group(2)), counts,
                            int(fields.group(4), 16))
    assert bytes.fromhex(hex_block.group(1)) == expected


def test_stream_in_arbitrary_chunks_decodes_every_frame():
    rng = random.Random(1)
    frames = random_frames(rng, 200)
    stream = encode_all(frames)
    decoder = FrameDecoder()
    decoded, pos = [], 0
    while pos < len(stream):
        step = rng.randint(1, 70)
        decoded += decoder.feed(stream[pos:pos + step])
        pos += step
    assert decoded_fields(decoded) == frames
    assert decoder.stats.bytes_discarded == 0 and decoder.pending_bytes == 0
    assert decoder.stats.frames == 200 and decoder.stats.seq_gaps == 0


def test_garbage_between_frames_is_discarded_and_counted():
    rng = random.Random(2)
    frames = random_frames(rng, 50)
    chunks = [garbage(rng, rng.randint(0, 40)) + encode_frame(*f) for f in frames]
    decoder = FrameDecoder()
    decoded = decoder.feed(b"".join(chunks))
    assert decoded_fields(decoded) == frames
    assert decoder.stats.bytes_discarded == sum(len(c) - FRAME_SIZE for c in chunks)


def test_false_sync_in_garbage_is_resynchronised():
    rng = random.Random(3)
    frames = random_frames(rng, 30)
    fake_header = SYNC + bytes([1, 26])  # a believable header whose CRC cannot match
    stream = b"".join(fake_header + garbage(rng, 10) + encode_frame(*f) for f in frames)
    decoder = FrameDecoder()
    assert decoded_fields(decoder.feed(stream)) == frames
    assert decoder.stats.crc_failures == len(frames)
    assert decoder.stats.bytes_discarded == len(stream) - len(frames) * FRAME_SIZE


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 17, 31])
def test_truncated_frame_before_a_good_one_loses_only_itself(cut):
    rng = random.Random(cut)
    frames = random_frames(rng, 3)
    stream = encode_frame(*frames[0]) + encode_frame(*frames[1])[:cut] + encode_frame(*frames[2])
    decoder = FrameDecoder()
    decoded = decoder.feed(stream)
    assert decoded_fields(decoded) == [frames[0], frames[2]]
    assert decoder.stats.bytes_discarded == cut
    assert decoded[1].lost_before == 1 and decoder.stats.lost_frames == 1


def test_frames_with_a_bad_crc_are_counted_and_not_emitted():
    rng = random.Random(4)
    frames = random_frames(rng, 20)
    corrupt = {3, 4, 11}
    stream = b""
    for i, f in enumerate(frames):
        raw = bytearray(encode_frame(*f))
        if i in corrupt:
            raw[rng.randrange(4, 30)] ^= 1 << rng.randrange(8)
        stream += bytes(raw)
    decoder = FrameDecoder()
    decoded = decoder.feed(stream)
    assert decoded_fields(decoded) == [f for i, f in enumerate(frames) if i not in corrupt]
    assert decoder.stats.crc_failures == len(corrupt)
    assert decoder.stats.lost_frames == len(corrupt) and decoder.stats.seq_gaps == 2


def test_sequence_gaps_report_how_many_frames_were_lost():
    rng = random.Random(5)
    frames = random_frames(rng, 10)
    sent = [frames[i] for i in (0, 1, 4, 5, 9)]
    decoder = FrameDecoder()
    decoded = decoder.feed(encode_all(sent))
    assert [d.lost_before for d in decoded] == [0, 0, 2, 0, 3]
    assert decoder.stats.seq_gaps == 2 and decoder.stats.lost_frames == 5


def test_sequence_and_clock_wrap_around_are_not_gaps():
    rng = random.Random(6)
    frames = random_frames(rng, 6, first_seq=2**32 - 3, first_us=2**32 - 30_000)
    assert frames[3][0] == 0 and frames[2][1] > frames[3][1]  # both counters wrapped
    decoder = FrameDecoder()
    decoded = decoder.feed(encode_all(frames))
    assert decoded_fields(decoded) == frames
    assert decoder.stats.seq_gaps == 0 and decoder.stats.seq_restarts == 0


def test_gap_across_the_wrap_is_counted():
    decoder = FrameDecoder()
    zeros = (0, 0, 0, 0)
    decoded = decoder.feed(encode_frame(2**32 - 2, 0, zeros) + encode_frame(1, 0, zeros))
    assert decoded[1].lost_before == 2 and not decoded[1].restarted


def test_device_restart_is_not_counted_as_a_gap():
    decoder = FrameDecoder()
    stream = (encode_frame(500, 0, (0, 0, 0, 0)) + encode_frame(0, 0, (0, 0, 0, 0), STATUS_BOOT)
              + encode_frame(1, 0, (0, 0, 0, 0)) + encode_frame(0, 0, (0, 0, 0, 0)))
    decoded = decoder.feed(stream)
    assert [d.restarted for d in decoded] == [False, True, False, True]
    assert decoder.stats.seq_restarts == 2 and decoder.stats.lost_frames == 0


def test_discard_pending_counts_a_partial_frame_but_keeps_sequence_history():
    decoder = FrameDecoder()
    decoder.feed(encode_frame(7, 0, (0, 0, 0, 0)) + encode_frame(8, 0, (0, 0, 0, 0))[:10])
    assert decoder.pending_bytes == 10
    decoder.discard_pending()
    assert decoder.stats.bytes_discarded == 10
    (after,) = decoder.feed(encode_frame(12, 0, (0, 0, 0, 0)))
    assert after.lost_before == 4


def test_status_bits_name_channels():
    status = (1 << (STATUS_TIMEOUT_SHIFT + 1)) | (1 << (STATUS_TIMEOUT_SHIFT + 3))
    assert channels_flagged(status, STATUS_TIMEOUT_SHIFT) == ("f_fr", "f_rr")


def test_encode_rejects_counts_outside_24_bits_naming_the_corner():
    with pytest.raises(ValueError, match="f_rl"):
        encode_frame(0, 0, (0, 0, COUNT_MAX + 1, 0))
    with pytest.raises(ValueError, match="undefined bits"):
        encode_frame(0, 0, (0, 0, 0, 0), status=1 << 15)
