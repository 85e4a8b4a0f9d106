"""WAV encoding with the stdlib ``wave`` module: 16-bit PCM from floats, ints or arrays.

>>> wav = wav_bytes([0.0, 0.5, -0.5], 8000)
>>> wav[:4], wav[8:12], len(wav)
(b'RIFF', b'WAVE', 50)
"""

from __future__ import annotations

import io
import sys
import wave
from array import array
from collections.abc import Iterable
from typing import Any

__all__ = ["pcm16", "wav_bytes"]


def pcm16(samples: Any) -> bytes:
    """Little-endian 16-bit PCM for ``samples``.

    Floats are taken as -1.0..1.0 (clipped) and ints as int16 values; ``bytes`` are taken
    as PCM already. Array-likes (numpy, torch on the CPU) are read by duck typing — their
    ``dtype`` kind and ``astype``/``tolist`` — so no third-party import is needed.
    """
    if isinstance(samples, (bytes, bytearray, memoryview)):
        data = bytes(samples)
        if len(data) % 2:
            raise ValueError(
                f"wav(): PCM bytes are 16-bit samples, 2 bytes each; got {len(data)} bytes"
            )
        return data
    dtype = getattr(samples, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if kind is not None and callable(getattr(samples, "astype", None)):
        if kind == "f":
            samples = (samples.clip(-1.0, 1.0) * 32767).round()
        return bytes(samples.astype("<i2").tobytes())
    if callable(getattr(samples, "tolist", None)):
        samples = samples.tolist()
    if not isinstance(samples, Iterable):
        raise TypeError(f"wav(): expected samples, got {type(samples).__name__}")
    out = array("h")
    for sample in samples:
        if isinstance(sample, float):
            out.append(round(max(-1.0, min(1.0, sample)) * 32767))
        elif isinstance(sample, int):
            out.append(max(-32768, min(32767, sample)))
        else:
            raise TypeError(f"wav(): a sample must be a float or an int, got {sample!r}")
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def wav_bytes(samples: Any, rate: int, channels: int = 1) -> bytes:
    """A complete WAV file (16-bit PCM) of ``samples`` — interleaved when ``channels`` > 1.

    A sample count that is not a multiple of ``channels`` (a partial frame) is a
    ``ValueError``, as are bytes that are not whole 16-bit samples.
    """
    if rate <= 0 or channels <= 0:
        raise ValueError(f"wav(): rate and channels must be positive, got {rate}, {channels}")
    data = pcm16(samples)
    count = len(data) // 2
    if count % channels:
        raise ValueError(
            f"wav(): {count} samples do not make whole frames of {channels} channels "
            f"(interleave one sample per channel per frame)"
        )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data)
    # Whole 16-bit frames make every chunk even, so no RIFF pad byte is ever needed.
    return buffer.getvalue()
