"""owt.lib.tts end to end: the real espeak-ng behind a real ``owt serve``."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, b64, call, require

TTS_CODE = (ROOT / "owt" / "lib" / "tts.py").read_text()
JSON_TYPE = {"content-type": "application/json"}
TEXT = "Hello there. How are you today? I am fine, thanks."


@pytest.fixture(autouse=True)
def _espeak() -> None:
    if shutil.which("espeak-ng") is None:
        require("espeak-ng (apt-get install espeak-ng)")


def parse_wav(data: bytes) -> wave._wave_params:
    with wave.open(io.BytesIO(data)) as w:
        params = w.getparams()
        frames = w.readframes(params.nframes)
    # The header's frame count is the real one: exactly the bytes that follow it.
    assert len(frames) == params.nframes * params.sampwidth * params.nchannels
    assert len(data) == 44 + len(frames)
    return params


def read_events(response: httpx.Response) -> list[Any]:
    events: list[Any] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def stream(url: str, path: str = "/tts", **kwargs: Any) -> list[Any]:
    body = {"code_b64": b64(TTS_CODE), "kwargs": kwargs}
    with httpx.stream("POST", url + path, json=body, timeout=60) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        return read_events(r)


def test_one_valid_wav_per_sentence_then_done(owt_server):
    events = stream(owt_server.url, text=TEXT, cumulative=True)
    assert events[-1] == "[DONE]"
    sentences = events[:-1]
    assert [e["text"] for e in sentences] == [
        "Hello there.",
        "How are you today?",
        "I am fine, thanks.",
    ]
    total = 0
    for index, event in enumerate(sentences):
        assert isinstance(event, dict) and event["index"] == index
        one = parse_wav(base64.b64decode(event["sentence"]))
        assert (one.nchannels, one.sampwidth, one.framerate) == (1, 2, 22050)
        assert one.nframes > 22050 * 0.3  # a real spoken sentence, not a click
        total += one.nframes
        so_far = parse_wav(base64.b64decode(event["cumulative"]))
        assert so_far.nframes == total


def test_whole_wav_is_the_sentences_joined(owt_server):
    events = stream(owt_server.url, text=TEXT)
    assert all("cumulative" not in e for e in events[:-1])
    frames = sum(parse_wav(base64.b64decode(e["sentence"])).nframes for e in events[:-1])
    r = call(owt_server.url, TTS_CODE, path="/tts.wav", text=TEXT, format="wav")
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/wav"
    assert parse_wav(r.content).nframes == frames


def test_default_stream_grows_linearly_with_the_text(start_server):
    # Each byte of audio crosses once: 60 sentences are about 20 times 3 sentences, where
    # repeating the audio so far in every event (cumulative=true) made them about 220 times.
    server = start_server("--mount", "tts=owt/lib/tts.py")
    three = "Hello there. How are you today? I am fine, thanks."

    def size(text: str, **query: str) -> int:
        r = httpx.get(server.url + "/tts", params={"text": text, **query}, timeout=120)
        assert r.status_code == 200, r.text
        return len(r.content)

    short, long = size(three), size(" ".join([three] * 20))
    assert 19 * short < long < 21 * short, (short, long)
    whole = len(httpx.get(server.url + "/tts", params={"text": three, "format": "wav"}).content)
    assert short < 1.4 * whole  # base64 (4/3) and the events' JSON, nothing more
    assert size(three, cumulative="true") > 2.5 * short


def test_get_with_kwargs_b64_like_an_event_source(owt_server):
    r = call(owt_server.url, TTS_CODE, method="GET", text="One. Two.", voice="en-us", speed=250)
    events = read_events(r)
    assert [e["text"] for e in events[:-1]] == ["One.", "Two."]


@pytest.mark.parametrize(
    ("voice", "text", "sentences"),
    [
        ("cmn", "你好。今天天气很好。", ["你好。", "今天天气很好。"]),
        ("ja", "こんにちは。元気ですか？", ["こんにちは。", "元気ですか？"]),
        ("hi", "नमस्ते। आप कैसे हैं?", ["नमस्ते।", "आप कैसे हैं?"]),
    ],
)
def test_each_scripts_sentences_are_spoken_one_by_one(owt_server, voice, text, sentences):
    events = stream(owt_server.url, text=text, voice=voice)
    assert [e["text"] for e in events[:-1]] == sentences
    assert all(parse_wav(base64.b64decode(e["sentence"])).nframes > 0 for e in events[:-1])


def test_split_none_speed_and_voice(owt_server):
    (whole, done) = stream(owt_server.url, text=TEXT, split="none", cumulative=False)
    assert done == "[DONE]" and isinstance(whole, dict) and whole["text"] == TEXT
    slow = stream(owt_server.url, text="Good morning.", speed=100)[0]
    fast = stream(owt_server.url, text="Good morning.", speed=300)[0]
    slow_frames = parse_wav(base64.b64decode(slow["sentence"])).nframes
    fast_frames = parse_wav(base64.b64decode(fast["sentence"])).nframes
    assert slow_frames > 2 * fast_frames
    french = stream(owt_server.url, text="Bonjour tout le monde.", voice="fr")[0]
    assert parse_wav(base64.b64decode(french["sentence"])).nframes > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "  "}, "text"),
        ({"text": 42}, "text"),
        ({"text": "\ud83d lone half of a smiley."}, "text"),
        ({"text": "Hi.", "split": "words"}, "split"),
        ({"text": "Hi.", "format": "mp3"}, "format"),
        ({"text": "Hi.", "speed": 5}, "speed"),
        ({"text": "Hi.", "speed": "fast"}, "speed"),
        ({"text": "Hi.", "voice": ["en"]}, "voice"),
        ({"text": "Hi.", "cumulative": "maybe"}, "cumulative"),
    ],
)
def test_bad_arguments_answer_before_the_stream_naming_the_argument(owt_server, kwargs, field):
    # json.dumps writes a lone surrogate as its \\u escape, as a JavaScript caller would.
    body = json.dumps({"code_b64": b64(TTS_CODE), "kwargs": kwargs})
    r = httpx.post(owt_server.url + "/tts", content=body, headers=JSON_TYPE, timeout=30)
    assert r.status_code == 400, r.text
    assert (r.json()["error"], r.json()["field"]) == ("bad_request", field)
    assert r.json()["message"].startswith(field)


def test_an_unknown_voice_is_espeak_ngs_own_error(owt_server):
    r = call(owt_server.url, TTS_CODE, path="/tts", text="Hi.", voice="nonexistent")
    assert r.status_code == 500, r.text
    assert r.json()["error"] == "adaptor_error"
    assert "voice does not exist" in r.json()["message"]


@pytest.fixture
def logged_espeak(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper around the real espeak-ng that notes when each synthesis ends."""
    log = tmp_path / "ends.log"
    log.touch()
    wrapper = tmp_path / "espeak-ng"
    wrapper.write_text(
        f'#!/bin/sh\n{shutil.which("espeak-ng")} "$@"\nstatus=$?\n'
        f"date +%s.%N >> {log}\nexit $status\n"
    )
    wrapper.chmod(0o755)
    return wrapper, log


def test_first_event_arrives_before_the_last_sentence_is_synthesised(start_server, logged_espeak):
    wrapper, log = logged_espeak
    server = start_server("--timeout", "60", env={"OWT_ESPEAK": str(wrapper)})
    long_sentence = (
        "Then " + " and ".join(["the quick brown fox jumps over the lazy dog"] * 100) + "."
    )
    body = {
        "code_b64": b64(TTS_CODE),
        "kwargs": {"text": f"Short first. {long_sentence}", "cumulative": False},
    }
    first_at = None
    with httpx.stream("POST", server.url + "/tts", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: {") and first_at is None:
                first_at = time.time()
    ends = [float(t) for t in log.read_text().split()]
    assert len(ends) == 2
    assert first_at is not None and first_at < ends[-1], (first_at, ends)


def test_an_event_source_reconnecting_midway_gets_the_rest(start_server, logged_espeak):
    wrapper, log = logged_espeak
    server = start_server(env={"OWT_ESPEAK": str(wrapper)})
    params = {"code_b64": b64(TTS_CODE), "kwargs_b64": b64(json.dumps({"text": TEXT}))}

    def reconnect(last_id: str, **fields: str) -> list[tuple[str, Any]]:
        headers = {"last-event-id": last_id, "accept": "text/event-stream"}
        query = {**params, **fields}
        with httpx.stream("GET", server.url + "/tts", params=query, headers=headers) as r:
            assert r.status_code == 200, r.read()
            lines = [line for line in r.iter_lines() if line.startswith(("id: ", "data: "))]
        ids, data = lines[0::2], lines[1::2]
        return [
            (i[4:], d[6:] if d == "data: [DONE]" else json.loads(d[6:]))
            for i, d in zip(ids, data, strict=True)
        ]

    rest = reconnect("1")  # the client has sentence 0 (id 1): it gets 1 and 2, ids 2 and 3
    assert [(i, e["index"], e["text"]) for i, e in rest[:-1]] == [
        ("2", 1, "How are you today?"),
        ("3", 2, "I am fine, thanks."),
    ]
    assert rest[-1] == ("[DONE]", "[DONE]")
    assert len(log.read_text().split()) == 2  # the sentence the client had was not synthesised
    assert reconnect("3") == [("[DONE]", "[DONE]")]  # it had them all
    assert [i for i, _ in reconnect("not a number")] == ["1", "2", "3", "[DONE]"]
    # A resumed stream is not the whole: it is not stored for a later caller.
    assert len(reconnect("2", use_cache="true")) == 2
    for cached in ("miss", "hit"):
        whole = call(server.url, TTS_CODE, path="/tts", fields={"use_cache": True}, text=TEXT)
        assert whole.headers.get("x-owt-cache", "miss") == cached
        assert len(read_events(whole)) == 4


def test_use_cache_replays_a_repeated_text(start_server, logged_espeak):
    wrapper, log = logged_espeak
    server = start_server(env={"OWT_ESPEAK": str(wrapper)})
    fields = {"use_cache": True, "cache_kwargs": True}

    def speak(text: str) -> bytes:
        r = call(server.url, TTS_CODE, path="/tts", fields=fields, text=text)
        assert r.status_code == 200
        return r.content

    first = speak("Say it once. Say it twice.")
    assert len(log.read_text().split()) == 2
    assert speak("Say it once. Say it twice.") == first  # replayed: espeak-ng did not run
    assert len(log.read_text().split()) == 2
    speak("Something else.")
    assert len(log.read_text().split()) == 3


def test_mounted_endpoint_takes_plain_query_parameters(start_server):
    server = start_server("--mount", "tts=owt/lib/tts.py", "--mount", "speak=example/tts/page.py")
    query = {"text": "Mounted. It works.", "speed": "200", "cumulative": "false"}
    with httpx.stream("GET", server.url + "/tts", params=query, timeout=60) as r:
        assert r.status_code == 200
        events = read_events(r)
    assert [e["text"] for e in events[:-1]] == ["Mounted.", "It works."]
    assert all("cumulative" not in e for e in events[:-1])
    whole = httpx.get(server.url + "/tts", params={"text": "Hi.", "format": "wav"}, timeout=60)
    assert whole.headers["content-type"] == "audio/wav"
    assert parse_wav(whole.content).nframes > 0
    page = httpx.get(server.url + "/speak", timeout=60)
    assert page.headers["content-type"] == "text/html; charset=utf-8"


def test_the_module_imports_only_the_stdlib_and_owt(tmp_path):
    # A bare interpreter with only owt on its path can load it (worker environments).
    script = (
        "import sys; import owt.lib.tts, owt.lib.bark, owt.lib.embed; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'anyio', 'httpx', 'click', 'numpy', 'torch')]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {script}"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_speak_script_saves_each_sentence(owt_server, tmp_path):
    port = owt_server.url.rsplit(":", 1)[1]
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", str(ROOT / "example/tts/speak.sh"), 'He said "hi". Then he left!', str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        'sentence0.wav  He said "hi".',
        "sentence1.wav  Then he left!",
        f"saved 2 sentence(s) in {out}",
    ]
    for name in ("sentence0.wav", "sentence1.wav"):
        assert parse_wav((out / name).read_bytes()).framerate == 22050
    assert sorted(p.name for p in Path(out).iterdir()) == ["sentence0.wav", "sentence1.wav"]


def test_speak_script_reports_an_error(owt_server, tmp_path):
    port = owt_server.url.rsplit(":", 1)[1]
    done = subprocess.run(
        ["bash", str(ROOT / "example/tts/speak.sh"), "Hi.", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OWT_PORT": port, "VOICE": "nonexistent"},
    )
    assert done.returncode == 1
    assert "adaptor_error" in done.stderr


def test_page_is_served_by_an_adaptor(owt_server):
    page = call(owt_server.url, (ROOT / "example/tts/page.py").read_text(), path="/speak")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b64(TTS_CODE) in page.text  # the page carries the adaptor it sends
    script = page.text.split('<script type="module">')[1]
    assert "http" not in script  # no CDN: nothing loads from elsewhere
    assert 'from "/_owt/web/wav.js"' in script  # but owt's own
