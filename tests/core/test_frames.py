"""Frames between the server and its workers: whole messages out of pieces of any size."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from owt.core.frames import HEADER, FrameBuffer, loads_plain, pack

MESSAGES = [("call", "1", {"x": 1}), ("pull", "1"), ("items", "1", [b"y" * 100_000, None], None)]


def test_frames_in_one_piece_come_out_in_order() -> None:
    assert FrameBuffer().feed(b"".join(pack(m) for m in MESSAGES)) == MESSAGES


def test_frames_cut_anywhere_come_out_whole() -> None:
    data = b"".join(pack(m) for m in MESSAGES)
    for piece in (1, 3, 4, 5, 4096):
        frames = FrameBuffer()
        out = []
        for start in range(0, len(data), piece):
            out += frames.feed(data[start : start + piece])
        assert out == MESSAGES, piece


def test_an_unfinished_frame_waits_for_its_rest() -> None:
    data = pack(MESSAGES[0])
    frames = FrameBuffer()
    assert frames.feed(data[:-1]) == []
    assert frames.feed(data[-1:] + pack(MESSAGES[1])) == MESSAGES[:2]


def test_a_workers_frames_are_read_as_plain_values_only() -> None:
    plain = [
        ("head", "1", 200, [("a", "b")], b"x", False, {"kept": ["m"], "n": 1.5, "s": {1}}),
        ("items", "2", [b"z" * 300_000, None], None),  # a large frame: read without a copy first
    ]
    assert FrameBuffer(loads_plain).feed(b"".join(pack(m) for m in plain)) == plain
    for forged in (("dying", Path("x")), ("head", "1", print)):  # a class, a function
        with pytest.raises(pickle.UnpicklingError, match="only plain values"):
            loads_plain(pickle.dumps(forged))


def test_a_frame_that_will_not_end_is_told_from_one_still_coming() -> None:
    """A worker writes each frame whole: one still arriving 5 s after it began, at under
    1 MiB/s, has a forged length; a big frame coming at the pipe's speed does not."""
    big = pack(("items", "1", [b"x" * (16 * 1024 * 1024)], None))
    frames = FrameBuffer()
    assert frames.feed(big[: len(big) // 2], now=0.0) == []
    frames.keep_pace(now=4.0)  # no verdict before 5 s
    frames.keep_pace(now=7.0)  # 8 MiB in 7 s keeps pace
    assert len(frames.feed(big[len(big) // 2 :], now=7.5)) == 1
    crawling = FrameBuffer()
    crawling.feed(HEADER.pack(1 << 30) + b"a", now=10.0)
    crawling.keep_pace(now=14.0)
    with pytest.raises(ValueError, match="crawled"):
        crawling.keep_pace(now=16.0)
