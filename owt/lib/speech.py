"""The glue every text-to-speech adaptor shares (espeak-ng's ``tts``, ``bark``). Stdlib only.

An engine only has to turn one sentence into a :class:`Clip`; :func:`speak` does the rest —
splitting the text, synthesising sentence by sentence, and answering either a stream of
server-sent events, one per sentence::

    id: 1
    data: {"index": 0, "text": "Hello.", "sentence": "<base64 WAV>"}
    ...
    id: [DONE]
    data: [DONE]

or with ``format="wav"`` one WAV of the whole text. A client that wants the whole recording
joins the sentences' PCM (the events all share one format); ``cumulative=True`` adds the
audio so far to every event instead, which makes the stream grow with the square of the
number of sentences (60 short sentences: 137 MB against 4.4 MB), so it is off by default.

    def run(text: str):
        return speak(text, lambda sentence: Clip(pcm16(my_model(sentence)), 24000))
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from owt.core.call import Response
from owt.core.errors import BadRequest
from owt.lib.arguments import check_flag, check_text
from owt.lib.stream import last_event_id, sse
from owt.summat.audio import wav_bytes
from owt.summat.text import split_sentences

__all__ = [
    "SPLITS",
    "WAV_HEADERS",
    "Clip",
    "Track",
    "read_wav",
    "speak",
    "speech_events",
    "split_text",
]

SPLITS = ("sentence", "none")
FORMATS = ("sse", "wav")
WAV_HEADERS = {"content-type": "audio/wav", "content-disposition": 'inline; filename="speech.wav"'}


@dataclass
class Clip:
    """Mono or interleaved 16-bit little-endian PCM at ``rate`` frames per second."""

    pcm: bytes
    rate: int
    channels: int = 1

    @property
    def frames(self) -> int:
        return len(self.pcm) // (2 * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.rate

    def wav(self) -> bytes:
        """A complete WAV file whose header counts exactly these frames."""
        return wav_bytes(self.pcm, self.rate, self.channels)


def read_wav(data: bytes) -> Clip:
    """The PCM of a 16-bit WAV, trusting the data rather than the header's lengths.

    Programs that write WAV to a pipe (espeak-ng's ``--stdout``) cannot seek back to fill in
    the lengths, so they write placeholders (0x7ffff000); the stdlib ``wave`` module believes
    them. Here the data chunk runs to the end of what is there, cut to whole frames.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file (no RIFF/WAVE header)")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        start = pos + 8
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[start : start + 16])
        elif chunk == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            tag, channels, rate, _, _, bits = fmt
            if tag != 1 or bits != 16:
                raise ValueError(f"only 16-bit PCM WAV is supported (format {tag}, {bits} bits)")
            pcm = data[start : min(start + size, len(data))]
            return Clip(pcm[: len(pcm) - len(pcm) % (2 * channels)], rate, channels)
        pos = start + size + (size & 1)
    raise ValueError("WAV file without a data chunk")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class Track:
    """Clips appended one after another: the audio of everything spoken so far."""

    clips: list[Clip] = field(default_factory=list)

    def add(self, clip: Clip) -> None:
        first = self.clips[0] if self.clips else clip
        if (clip.rate, clip.channels) != (first.rate, first.channels):
            raise ValueError(
                f"cannot join {clip.rate} Hz x{clip.channels} to {first.rate} Hz x{first.channels}"
            )
        self.clips.append(clip)

    def clip(self) -> Clip:
        if not self.clips:
            return Clip(b"", 22050)
        first = self.clips[0]
        return Clip(b"".join(c.pcm for c in self.clips), first.rate, first.channels)

    def wav(self) -> bytes:
        return self.clip().wav()


def split_text(text: str, split: str = "sentence") -> list[str]:
    """The pieces to synthesise one at a time: sentences, or the whole text (``none``)."""
    if split not in SPLITS:
        raise BadRequest(f"split must be one of {', '.join(SPLITS)}, not {split!r}", field="split")
    text = check_text(text, "text")
    pieces = split_sentences(text) if split == "sentence" else [text.strip()]
    pieces = [p for p in pieces if p]
    if not pieces:
        raise BadRequest("text is empty: there is nothing to say", field="text")
    return pieces


def speech_events(
    sentences: Iterable[str],
    synthesize: Callable[[str], Clip],
    cumulative: bool = False,
    skip: int = 0,
) -> Iterator[dict[str, Any]]:
    """One event per sentence, each synthesised only when the consumer asks for it.

    With ``cumulative`` each event also carries all the audio so far, re-encoded every time:
    its bytes grow with the square of the number of sentences (keep it for short texts).
    The first ``skip`` sentences, which a reconnecting client already has, send no event
    (and are synthesised only when ``cumulative`` needs their audio).
    """
    track = Track()
    for index, sentence in enumerate(sentences):
        if index < skip:
            if cumulative:
                track.add(synthesize(sentence))
            continue
        clip = synthesize(sentence)
        audio = _b64(clip.wav())
        event: dict[str, Any] = {"index": index, "text": sentence, "sentence": audio}
        if cumulative:
            track.add(clip)
            # The first sentence is all the audio so far: the same text, not encoded twice.
            event["cumulative"] = audio if index == 0 else _b64(track.wav())
        yield event


def speak(
    text: str,
    synthesize: Callable[[str], Clip],
    split: str = "sentence",
    format: str = "sse",
    cumulative: bool = False,
) -> Response:
    """Text to speech through ``synthesize``: an SSE stream of sentences, or one WAV.

    The same text gives the same sentences every time, so an ``EventSource`` that reconnects
    midway (``Last-Event-ID: 2``) gets the rest of the stream, from the third sentence on.
    """
    if format not in FORMATS:
        raise BadRequest(
            f"format must be one of {', '.join(FORMATS)}, not {format!r}", field="format"
        )
    sentences = split_text(text, split)
    cumulative = check_flag(cumulative, "cumulative")
    if format == "wav":
        track = Track()
        for sentence in sentences:
            track.add(synthesize(sentence))
        return Response(track.wav(), 200, dict(WAV_HEADERS))
    done = last_event_id()
    return sse(speech_events(sentences, synthesize, cumulative, skip=done), first_id=done + 1)
