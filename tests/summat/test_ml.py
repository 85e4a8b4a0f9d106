"""ML helpers: sentences, batches, lazy per-item work, and the encodings sent back."""

from __future__ import annotations

import base64
import io
import json
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from summat_support import body_text

from owt.core.call import Response
from owt.core.events import DONE_EVENT
from owt.core.keep import keep
from owt.summat import pipe


class Tracked:
    """An iterator that counts what was pulled and whether it was closed."""

    def __init__(self, items: list[Any]) -> None:
        self.items = iter(items)
        self.pulled = 0
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        item = next(self.items)
        self.pulled += 1
        return item

    def close(self) -> None:
        self.closed = True


def test_sentences_of_text_and_bytes() -> None:
    text = "Dr. Smith came home. Did he eat? Yes!"
    assert pipe().const(text).sentences()() == ["Dr. Smith came home.", "Did he eat?", "Yes!"]
    assert pipe().const(text.encode()).sentences()() == pipe().const(text).sentences()()


def test_sentences_of_a_stream_are_yielded_as_they_complete() -> None:
    chunks = Tracked(["Hello th", "ere. How a", "re you? Fi", "ne."])
    sentences = pipe().const(chunks).sentences()()
    assert next(sentences) == "Hello there."
    assert chunks.pulled == 2  # only as much text as the first sentence needed
    assert list(sentences) == ["How are you?", "Fine."]


def test_batch_of_a_list_and_of_a_stream() -> None:
    assert pipe().const([1, 2, 3, 4, 5]).batch(2)() == [[1, 2], [3, 4], [5]]
    items = Tracked([1, 2, 3])
    batches = pipe().const(items).batch(2)()
    assert next(batches) == [1, 2]
    assert items.pulled == 2
    assert list(batches) == [[3]]


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        pipe().batch(0)


def test_each_is_lazy() -> None:
    calls: list[int] = []

    def work(n: int) -> int:
        calls.append(n)
        return n * 10

    results = pipe().const([1, 2, 3]).each(work)()
    assert calls == []
    assert next(results) == 10
    assert calls == [1]
    assert list(results) == [20, 30]


def test_each_takes_pipes_and_named_parameters() -> None:
    tagged = pipe().kwarg("xs").each(lambda x, tag: f"{tag}{x}")
    assert list(tagged(xs=[1, 2], tag="#")) == ["#1", "#2"]
    assert list(pipe().const(["a"]).each(pipe().f(str.upper))()) == ["A"]


def test_each_closing_early_closes_the_source() -> None:
    source = Tracked([1, 2, 3])
    results = pipe().const(source).each(lambda x: x)()
    assert next(results) == 1
    results.close()
    assert source.closed


def test_sse_streams_events_and_done() -> None:
    response = pipe().const(["one", {"n": 2}, b"\x00\x01"]).sse()()
    assert isinstance(response, Response)
    assert dict(response.headers or {})["content-type"].startswith("text/event-stream")
    assert body_text(response) == (
        'id: 1\ndata: one\n\nid: 2\ndata: {"n": 2}\n\nid: 3\ndata: AAE=\n\n' + DONE_EVENT
    )


def test_sse_of_a_single_value_is_one_event() -> None:
    assert body_text(pipe().const("just me").sse()()) == "id: 1\ndata: just me\n\n" + DONE_EVENT


def test_sse_of_a_lazy_pipe_streams_items_as_made() -> None:
    source = Tracked(["One. Tw", "o. Three."])
    response = pipe().const(source).sentences().each(str.upper).sse()()
    assert source.pulled == 0  # nothing computed before the response is consumed
    events = "id: 1\ndata: ONE.\n\nid: 2\ndata: TWO.\n\nid: 3\ndata: THREE.\n\n"
    assert body_text(response) == events + DONE_EVENT


@dataclass
class Scored:
    label: str
    score: float


def test_json_out_of_a_value() -> None:
    response = pipe().const({"best": Scored("cat", 0.9), "raw": b"hi", "tags": ("a",)}).json_out()()
    assert dict(response.headers or {})["content-type"] == "application/json"
    expected = {"best": {"label": "cat", "score": 0.9}, "raw": "aGk=", "tags": ["a"]}
    assert json.loads(response.body) == expected


def test_json_out_of_a_stream_is_json_lines() -> None:
    response = pipe().const(iter([1, {"a": "é"}])).json_out()()
    assert dict(response.headers or {})["content-type"] == "application/x-ndjson"
    assert body_text(response) == '1\n{"a": "é"}\n'


def test_json_out_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="not JSON-able"):
        pipe().const(object()).json_out()()


def test_b64() -> None:
    assert pipe().const(b"hi").b64()() == "aGk="
    assert pipe().const("hé").b64()() == base64.b64encode("hé".encode()).decode()
    assert list(pipe().const(iter([b"a", b"b"])).b64()()) == ["YQ==", "Yg=="]


def read_wav(data: bytes) -> tuple[int, int, list[int]]:
    with wave.open(io.BytesIO(data)) as wav:
        frames = array("h", wav.readframes(wav.getnframes()))
        return wav.getframerate(), wav.getnchannels(), frames.tolist()


def test_wav_of_floats_ints_and_pcm() -> None:
    rate, channels, samples = read_wav(pipe().const([0.0, 0.5, -1.0, 2.0]).wav(8000)())
    assert (rate, channels, samples) == (8000, 1, [0, 16384, -32767, 32767])
    assert read_wav(pipe().const([1, -2, 40000]).wav(16000)())[2] == [1, -2, 32767]
    pcm = array("h", [5, -5]).tobytes()
    assert read_wav(pipe().const(pcm).wav(22050, 2)())[:2] == (22050, 2)


def test_wav_of_an_array_like_without_importing_numpy() -> None:
    class FakeArray:
        """Just the duck-typed surface ``wav`` uses: ``dtype.kind``, ``clip``, ``astype``."""

        dtype = type("dtype", (), {"kind": "f"})()

        def __init__(self, values: list[float]) -> None:
            self.values = values

        def clip(self, lo: float, hi: float) -> FakeArray:
            return FakeArray([min(hi, max(lo, v)) for v in self.values])

        def __mul__(self, k: float) -> FakeArray:
            return FakeArray([v * k for v in self.values])

        def round(self) -> FakeArray:
            return FakeArray([float(round(v)) for v in self.values])

        def astype(self, kind: str) -> array[int]:
            return array("h", [int(v) for v in self.values])

    assert read_wav(pipe().const(FakeArray([0.5, 3.0])).wav(8000)())[2] == [16384, 32767]


def test_wav_of_a_stream_is_one_file_per_clip() -> None:
    clips = list(pipe().const(iter([[0.1], [0.2, 0.3]])).wav(8000)())
    assert [len(read_wav(c)[2]) for c in clips] == [1, 2]


def test_wav_refuses_bad_samples() -> None:
    with pytest.raises(TypeError, match="a sample must be"):
        pipe().const(["x"]).wav(8000)()


def test_wav_refuses_partial_frames_and_half_samples() -> None:
    with pytest.raises(ValueError, match="3 samples do not make whole frames of 2 channels"):
        pipe().const([0.0, 0.1, 0.2]).wav(8000, channels=2)()
    with pytest.raises(ValueError, match="16-bit samples, 2 bytes each; got 1 bytes"):
        pipe().const(b"\x00").wav(8000)()
    with pytest.raises(ValueError, match="whole frames"):
        pipe().const(array("h", [1, 2, 3]).tobytes()).wav(8000, channels=2)()
    with pytest.raises(ValueError, match="whole frames"):  # per clip in a stream too
        list(pipe().const(iter([[0.1, 0.2], [0.3]])).wav(8000, channels=2)())


def test_wav_chunks_are_whole_frames_and_even() -> None:
    data = pipe().const([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]).wav(8000, channels=3)()
    assert data[36:40] == b"data"
    size = int.from_bytes(data[40:44], "little")
    assert size == 12 and size % (2 * 3) == 0 and len(data) == 44 + size
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    assert read_wav(data)[1:] == (3, [0, 3277, 6553, 9830, 13107, 16384])


def test_keep_builds_once_per_process_and_names_the_object() -> None:
    built: list[int] = []

    def load() -> dict[str, int]:
        built.append(1)
        return {"bias": 100}

    scored = (
        pipe()
        .kwarg("x")
        .keep("summat_test_model", load)
        .f(lambda x, summat_test_model: x + summat_test_model["bias"])
    )
    assert scored(x=1) == 101
    assert scored(x=2) == 102
    assert pipe().const("passes").keep("summat_test_model", load)() == "passes"
    assert keep("summat_test_model", load) is keep("summat_test_model", dict)
    assert built == [1]
    # A kept name wins over a caller's argument of the same name.
    assert scored(x=1, summat_test_model={"bias": 0}) == 101
