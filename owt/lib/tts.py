"""Text to speech with espeak-ng, streamed sentence by sentence as server-sent events.

It runs the ``espeak-ng`` program (Debian: ``apt-get install espeak-ng``), one process per
sentence, and needs no Python package: mount it, or send its source as the adaptor::

    owt serve --mount tts=owt/lib/tts.py
    curl -N 'http://127.0.0.1:9876/tts?text=Hello.%20How%20are%20you%3F'
    # id: 1 / data: {"index": 0, "text": "Hello.", "sentence": "UklGR..."}
    # id: 2 / data: {"index": 1, "text": "How are you?", ...}
    # id: [DONE] / data: [DONE]

``format=wav`` answers one WAV of the whole text instead. ``OWT_ESPEAK`` names another
binary (``espeak``, a wrapper script). The splitting, events and WAV handling are shared
with :mod:`owt.lib.bark` through :mod:`owt.lib.speech`.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from owt.core.call import Response
from owt.core.errors import BadRequest
from owt.lib.arguments import check_text
from owt.lib.speech import Clip, read_wav, speak

__all__ = ["espeak_binary", "run", "synthesize"]

#: espeak-ng's own default rate, in words per minute; it accepts about 80 to 450.
DEFAULT_SPEED = 175
ESPEAK_RATE = 22050


def espeak_binary() -> str:
    """The espeak-ng program to run: ``$OWT_ESPEAK``, else ``espeak-ng`` (or ``espeak``)."""
    found = os.environ.get("OWT_ESPEAK") or shutil.which("espeak-ng") or shutil.which("espeak")
    if not found:
        raise RuntimeError("espeak-ng is not installed here: apt-get install espeak-ng")
    return found


def synthesize(
    text: str,
    voice: str = "en",
    speed: int = DEFAULT_SPEED,
    binary: str | None = None,
    timeout: float = 120,
) -> Clip:
    """Speak ``text`` with espeak-ng: its audio as a :class:`~owt.lib.speech.Clip`.

    The text goes on stdin (never parsed as options, no length limit); the WAV comes back on
    stdout, whose header lengths are placeholders — :func:`~owt.lib.speech.read_wav` counts
    the frames from the data.
    """
    command = [binary or espeak_binary(), "--stdout", "-b", "1", "-v", voice, "-s", str(speed)]
    done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=timeout)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise RuntimeError(f"espeak-ng failed: {message}")
    if not done.stdout:  # nothing to say (punctuation only): a silent, empty clip
        return Clip(b"", ESPEAK_RATE)
    return read_wav(done.stdout)


def run(
    text: str,
    voice: str = "en",
    speed: int = DEFAULT_SPEED,
    split: str = "sentence",
    format: str = "sse",
    cumulative: bool = False,
) -> Response:
    """Speak ``text``: SSE events ``{"index", "text", "sentence"}`` then the ``[DONE]`` event
    (``format="sse"``), or one WAV file (``format="wav"``).

    ``voice`` is an espeak-ng voice (``en``, ``en-us``, ``fr``, ``de``...; ``espeak-ng
    --voices`` lists them), ``speed`` is in words per minute, ``split`` is ``sentence`` or
    ``none`` (the whole text at once). ``cumulative=true`` adds ``"cumulative"``, all the
    audio so far, to each event: bytes that grow with the square of the sentence count.
    """
    try:
        speed = int(speed)
    except (TypeError, ValueError):
        message = f"speed must be a whole number of words per minute, not {speed!r}"
        raise BadRequest(message, field="speed") from None
    if not 20 <= speed <= 1000:
        raise BadRequest(f"speed must be 20 to 1000 words per minute, not {speed}", field="speed")
    voice = check_text(voice, "voice")
    binary = espeak_binary()  # fail before the stream starts, with the fix in the message
    return speak(
        text,
        lambda sentence: synthesize(sentence, voice, speed, binary),
        split=split,
        format=format,
        cumulative=cumulative,
    )
