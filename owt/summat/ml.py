"""Steps for prototyping with models: text in sentences, batches, lazy per-item work, and
the encodings a browser wants back (server-sent events, JSON, base64, WAV).

One rule for streams: an *iterator* (a generator) stays lazy — ``sentences``, ``batch``,
``each``, ``b64``, ``wav``, ``json_out`` and ``sse`` then work per item as the items arrive —
and so does an *async* iterator (an ``async def`` generator), whose items these steps then
give as an async generator; any other value is handled whole and eagerly.
"""

from __future__ import annotations

import base64
import codecs
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from owt.core.call import Response
from owt.core.jsontext import dumps
from owt.core.scalars import short_repr
from owt.summat.audio import wav_bytes
from owt.summat.step import (
    Context,
    Step,
    aclosing_iter,
    apply,
    closing_iter,
    is_stream,
    not_awaitable,
    per_item,
    prepare,
)
from owt.summat.text import aiter_sentences, iter_sentences, split_sentences
from owt.summat.transforms import as_bytes, jsonable

__all__ = ["B64", "Batch", "Each", "JsonOut", "Keep", "Sentences", "Sse", "Wav"]

T = TypeVar("T")


class Sentences(Step[Any, Any]):
    """``sentences()``: text → a list of sentences; a stream of text chunks → a generator
    yielding each sentence as soon as it is complete (an async one for an async stream).

    Text is a str, UTF-8 bytes, or the chunks of one text: a list of str or bytes, or a
    stream of them (bytes are decoded across chunks, so a character may be split between
    two). Anything else is a TypeError: nothing is turned into text by its ``repr``.
    """

    name = "sentences"

    def run(self, last: Any, ctx: Context) -> list[str] | Iterator[str] | AsyncIterator[str]:
        if hasattr(last, "__aiter__"):
            return aclosing_iter(last, aiter_sentences(_atext_chunks(last)), self)
        if isinstance(last, Iterator):
            return closing_iter(last, iter_sentences(_text_chunks(last)), self)
        if isinstance(last, str):
            return split_sentences(last)
        if isinstance(last, (bytes, bytearray, memoryview)):
            return split_sentences(bytes(last).decode())
        if isinstance(last, (list, tuple)):
            return split_sentences("".join(_text_chunks(last)))
        raise TypeError(
            "sentences() takes text: a str, UTF-8 bytes, or the chunks of one text (a list "
            f"or a stream of str or bytes), not {_kind(last)}; make the value text first"
        )


class _Text:
    """The chunks of one text as str: bytes decoded as UTF-8 across chunk boundaries."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.chunks = 0

    def take(self, chunk: Any) -> str:
        self.chunks += 1
        if isinstance(chunk, str):
            return self.decoder.decode(b"", final=True) + chunk  # bytes before it must be whole
        if isinstance(chunk, (bytes, bytearray, memoryview)):
            return self.decoder.decode(bytes(chunk))
        raise TypeError(
            f"sentences() takes the chunks of a text as str or UTF-8 bytes, but chunk "
            f"{self.chunks} is {_kind(chunk)}"
        )

    def end(self) -> str:
        return self.decoder.decode(b"", final=True)


def _text_chunks(chunks: Iterable[Any]) -> Iterator[str]:
    text = _Text()
    for chunk in chunks:
        yield text.take(chunk)
    yield text.end()


async def _atext_chunks(chunks: AsyncIterable[Any]) -> AsyncIterator[str]:
    text = _Text()
    async for chunk in chunks:
        yield text.take(chunk)
    yield text.end()


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    return f"{type(value).__name__} {short_repr(value, 60)}"


class Batch(Step[Any, Any]):
    """``batch(n)``: items in lists of ``n`` (the last may be shorter); lazy for streams."""

    name = "batch"

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"batch(): the size must be at least 1, got {size}")
        self.size = size
        self.args = (size,)

    def _batches(self, items: Iterable[T]) -> Iterator[list[T]]:
        group: list[T] = []
        for item in items:
            group.append(item)
            if len(group) == self.size:
                yield group
                group = []
        if group:
            yield group

    async def _abatches(self, items: AsyncIterable[T]) -> AsyncIterator[list[T]]:
        group: list[T] = []
        async for item in items:
            group.append(item)
            if len(group) == self.size:
                yield group
                group = []
        if group:
            yield group

    def run(self, last: Any, ctx: Context) -> Any:
        if hasattr(last, "__aiter__"):
            return aclosing_iter(last, self._abatches(last), self)
        if isinstance(last, Iterator):
            return closing_iter(last, self._batches(last), self)
        return list(self._batches(last))


class Each(Step[Any, Any]):
    """``each(fn)``: a generator of ``fn(item)`` per item, computed only as it is consumed
    (so a streamed response sends each result as soon as it is ready); an async generator
    for an async stream."""

    name = "each"

    def __init__(self, fn: Any) -> None:
        self.args = (fn,)
        self.fn = prepare(fn)

    def run(self, last: Any, ctx: Context) -> Any:
        fn = self.fn
        return per_item(
            self, last, lambda item: not_awaitable(apply(fn, item, ctx), self, "each()")
        )


class Sse(Step[Any, Response]):
    """``sse()``: stream the items as server-sent events (``id: 1`` / ``data: ...``), then
    ``id: [DONE]`` / ``data: [DONE]``. Text goes as it is, bytes as base64 text, other items
    as JSON. A value that is not a stream (sync or async), list or tuple is one event."""

    name = "sse"

    def run(self, last: Any, ctx: Context) -> Response:
        from owt.lib.stream import sse

        items = last if is_stream(last) or isinstance(last, (list, tuple)) else [last]
        return sse(per_item(self, items, _event_item))


def _event_item(item: Any) -> Any:
    # jsonable() turns bytes into base64 text, which sse() then sends as plain text.
    return item if isinstance(item, str) else jsonable(item)


class JsonOut(Step[Any, Response]):
    """``json_out()``: the value as an ``application/json`` response; a stream (sync or
    async) as JSON lines (``application/x-ndjson``). Dataclasses, tuples, sets, array-likes
    and bytes (base64) are converted."""

    name = "json_out"

    def run(self, last: Any, ctx: Context) -> Response:
        if is_stream(last):
            lines = per_item(self, last, lambda item: _dumps(item) + "\n")
            return Response(lines, 200, {"content-type": NDJSON})
        return Response(_dumps(last), 200, {"content-type": "application/json"})


NDJSON = "application/x-ndjson"


def _dumps(value: Any) -> str:
    return dumps(jsonable(value))


class B64(Step[Any, Any]):
    """``b64()``: standard base64 text of the value's bytes (str as UTF-8); per item for a
    stream, so audio chunks can be sent as SSE events."""

    name = "b64"

    def run(self, last: Any, ctx: Context) -> Any:
        return per_item(self, last, _b64) if is_stream(last) else _b64(last)


def _b64(value: Any) -> str:
    return base64.b64encode(as_bytes(value)).decode("ascii")


class Wav(Step[Any, Any]):
    """``wav(rate)``: samples (floats in -1..1, int16 ints, an array, or raw PCM bytes) →
    a 16-bit WAV file as bytes; a stream of clips → a generator of WAV files."""

    name = "wav"

    def __init__(self, rate: int, channels: int = 1) -> None:
        self.rate = rate
        self.channels = channels
        self.args = (rate,) if channels == 1 else (rate, channels)

    def run(self, last: Any, ctx: Context) -> Any:
        if is_stream(last):
            return per_item(self, last, lambda clip: wav_bytes(clip, self.rate, self.channels))
        return wav_bytes(last, self.rate, self.channels)


class Keep(Step[T, T]):
    """``keep("model", load)``: ``load()`` once per process (shared with every other code
    in it, see :func:`owt.core.keep.keep`); later functions get the object by naming a
    parameter ``model``. The value passes through."""

    name = "keep"

    def __init__(self, key: str, factory: Callable[[], Any]) -> None:
        self.key = key
        self.factory = factory
        self.args = (key, factory)

    def run(self, last: T, ctx: Context) -> T:
        from owt.core.keep import keep

        ctx.names[self.key] = keep(self.key, self.factory)
        return last
