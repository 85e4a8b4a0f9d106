"""Binary arguments (multipart file parts) from every client, and arrays answered as ``.npy``."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, OwtProcess, b64, call

from owt.client import AsyncClient, Client
from owt.core.arrays import npy_bytes


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG image (red pixels), made by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()
EXPECTED = {"size": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest()}

SIZE = """
import hashlib

def run(image: bytes):
    return {"size": len(image), "sha256": hashlib.sha256(image).hexdigest()}
"""
UNHINTED_SIZE = """
import hashlib

def run(image):
    return {"size": len(image), "sha256": hashlib.sha256(image).hexdigest()}
"""
GREET = """
def run(name: str, times: int = 1) -> str:
    return f"Hello, {name}!" * times
"""
FILES = """
def run(request, label="none"):
    part = request.files["upload"]
    return {
        "label": label,
        "name": part.name,
        "filename": part.filename,
        "content_type": part.content_type,
        "size": part.size,
        "form": dict(request.form),
    }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp("binary")
    (folder / "size.py").write_text(SIZE)
    (folder / "greet.py").write_text(GREET)
    server = OwtProcess(
        *("--mount", f"size={folder / 'size.py'}"), *("--mount", f"greet={folder / 'greet.py'}")
    )
    yield server
    server.stop()


# -- the wire: curl -F --------------------------------------------------------------------


def test_multipart_text_fields_reach_a_typed_endpoint(server: Any) -> None:
    # curl -F name=owt -F times=2 /greet
    r = httpx.post(server.url + "/greet", files={"name": (None, "owt"), "times": (None, "2")})
    assert r.status_code == 200, r.text
    assert r.text == "Hello, owt!Hello, owt!"


def test_a_file_part_is_a_bytes_parameter(server: Any) -> None:
    # curl -F image=@cat.png /size
    r = httpx.post(server.url + "/size", files={"image": ("cat.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json() == EXPECTED


def test_request_files_hold_name_filename_type_and_bytes(server: Any) -> None:
    r = httpx.post(
        server.url + "/anything",
        data={"code_b64": b64(FILES), "kwargs": '{"label": "x"}', "extra": "kept"},
        files={"upload": ("cat.png", PNG, "image/png")},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "label": "x",
        "name": "upload",
        "filename": "cat.png",
        "content_type": "image/png",
        "size": len(PNG),
        "form": {"code_b64": b64(FILES), "kwargs": '{"label": "x"}', "extra": "kept"},
    }


def test_a_broken_multipart_body_is_a_400(server: Any) -> None:
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    r = httpx.post(server.url + "/greet", content=b"--xyz\r\nnot a part", headers=headers)
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request"
    r = httpx.post(
        server.url + "/greet", content=b"x", headers={"content-type": "multipart/form-data"}
    )
    assert r.status_code == 400
    assert "boundary" in r.json()["message"]


# -- each client -------------------------------------------------------------------------


def test_python_client_sends_bytes_as_a_file_part(server: Any) -> None:
    with Client(server.url) as client:
        assert client.call(SIZE, image=PNG) == EXPECTED
        assert client.call(UNHINTED_SIZE, image=bytearray(PNG)) == EXPECTED  # again by hash
        assert client.call(UNHINTED_SIZE, image=PNG) == EXPECTED
        assert client.endpoint("size")(image=PNG) == EXPECTED
        assert client.adaptor(SIZE, method="GET")(image=PNG) == EXPECTED  # bytes need a POST


def test_python_client_sends_an_open_file(server: Any, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    with Client(server.url) as client, image.open("rb") as file:
        assert client.call(FILES, upload=file)["filename"] == "cat.png"


def test_async_client_sends_bytes_as_a_file_part(server: Any) -> None:
    async def main() -> Any:
        async with AsyncClient(server.url) as client:
            return await client.call(SIZE, image=PNG), await client.endpoint("size")(image=PNG)

    assert asyncio.run(main()) == (EXPECTED, EXPECTED)


def test_cli_takes_name_at_path(server: Any, tmp_path: Path) -> None:
    (tmp_path / "size.py").write_text(SIZE)
    (tmp_path / "cat.png").write_bytes(PNG)
    done = subprocess.run(
        [sys.executable, "-m", "owt", "call", server.url, "size.py", "image=@cat.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout.replace("\n", "")) == EXPECTED
    done = subprocess.run(
        [sys.executable, "-m", "owt", "encode", "size.py", "image=@cat.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode != 0
    assert "owt call" in done.stderr


# -- arrays as .npy ---------------------------------------------------------------------


def read_npy(data: bytes) -> tuple[str, tuple[int, ...], bytes]:
    assert data[:8] == b"\x93NUMPY\x01\x00"
    size = int.from_bytes(data[8:10], "little")
    assert (10 + size) % 64 == 0
    header = ast.literal_eval(data[10 : 10 + size].decode("latin-1"))
    assert header["fortran_order"] is False
    return header["descr"], header["shape"], data[10 + size :]


def test_npy_of_lists() -> None:
    descr, shape, raw = read_npy(npy_bytes([1.5, 2.0, -3.25]) or b"")
    assert (descr, shape) == ("<f8", (3,))
    assert struct.unpack("<3d", raw) == (1.5, 2.0, -3.25)
    descr, shape, raw = read_npy(npy_bytes([[1, 2, 3], [4, 5, 6]]) or b"")
    assert (descr, shape) == ("<i8", (2, 3))
    assert struct.unpack("<6q", raw) == (1, 2, 3, 4, 5, 6)
    assert read_npy(npy_bytes([]) or b"")[1] == (0,)
    assert npy_bytes([[1], [2, 3]]) is None  # ragged
    assert npy_bytes(["a"]) is None
    assert npy_bytes({"a": 1}) is None
    # Integers .npy would not keep exactly stay JSON (they were rounded into float64).
    assert npy_bytes([2**63 + 1]) is None and npy_bytes([1, 2**64]) is None
    assert npy_bytes([0.5, 2**53 + 1]) is None
    assert read_npy(npy_bytes([2**63 - 1]) or b"")[0] == "<i8"
    assert read_npy(npy_bytes([0.5, 2**53]) or b"")[0] == "<f8"


def test_a_list_result_is_npy_when_asked_for(server: Any) -> None:
    code = "def run(n: int):\n    return [i / 2 for i in range(n)]\n"
    r = httpx.post(
        server.url,
        json={"code_b64": b64(code), "kwargs": {"n": 4}},
        headers={"accept": "application/x-npy"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-npy"
    descr, shape, raw = read_npy(r.content)
    assert (descr, shape, struct.unpack("<4d", raw)) == ("<f8", (4,), (0.0, 0.5, 1.0, 1.5))
    assert call(server.url, code, n=2).json() == [0.0, 0.5]  # JSON unless asked
    r = httpx.post(
        server.url,
        json={"code_b64": b64("def run(): return {'a': 1}")},
        headers={"accept": "application/x-npy"},
    )
    assert r.headers["content-type"] == "application/json"  # no array: JSON as ever


@pytest.mark.parametrize(
    ("accept", "npy"),
    [
        ("application/x-npy", True),
        ("application/x-npy, */*", True),
        ("application/json;q=0.5, application/x-npy;q=0.9", True),
        ("application/x-npy;q=0", False),  # "not acceptable"
        ("application/json, application/x-npy;q=0.1", False),
        ("application/x-npy;q=0.5, application/json", False),
        ("*/*", False),
    ],
)
def test_accept_weighs_npy_against_json(server: Any, accept: str, npy: bool) -> None:
    code = "def run():\n    return [1.5, 2.5]\n"
    r = httpx.post(server.url, json={"code_b64": b64(code)}, headers={"accept": accept})
    assert r.headers["content-type"] == ("application/x-npy" if npy else "application/json")
    assert r.headers["vary"] == "accept"  # an HTTP cache keeps the two answers apart


def test_only_answers_that_depend_on_accept_vary_by_it(server: Any) -> None:
    assert "vary" not in call(server.url, "def run(): return {'a': 1}").headers
    assert "vary" not in call(server.url, "def run(): return 'text'").headers
    code = "def run():\n    return [1], 200, {'Vary': 'Origin'}\n"
    assert call(server.url, code).headers["vary"] == "Origin"  # the adaptor's own wins


def test_a_cached_array_answers_each_caller_in_the_form_it_accepts(server: Any) -> None:
    # One cache entry per form: a JSON caller never gets the .npy answer stored for another.
    code = "def run():\n    return [0.5, 1.5]\n"
    fields = {"code_b64": b64(code), "use_cache": True, "cache_key_override": "forms"}
    for _ in range(2):  # the second round replays both
        r = httpx.post(server.url, json=fields, headers={"accept": "application/x-npy"})
        assert r.headers["content-type"] == "application/x-npy"
        r = httpx.post(server.url, json=fields)
        assert r.headers["content-type"] == "application/json" and r.json() == [0.5, 1.5]
    assert r.headers.get("x-owt-cache") == "hit" and r.headers["vary"] == "accept"


NUMPY_ADAPTOR = """
import numpy as np

def run():
    return np.arange(6, dtype=np.float32).reshape(2, 3)
"""


def test_a_numpy_array_keeps_its_dtype(start_server: Any) -> None:
    python = Path(os.environ.get("OWT_EMBED_PYTHON", ROOT / ".venv-embed" / "bin" / "python"))
    check = subprocess.run([str(python), "-c", "import numpy"], capture_output=True)
    if not python.exists() or check.returncode != 0:
        pytest.skip(f"no Python with numpy at {python}")
    server = start_server("--env", f"np={python}")
    r = httpx.post(
        server.url,
        json={"code_b64": b64(NUMPY_ADAPTOR), "env": "np"},
        headers={"accept": "application/x-npy"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    descr, shape, raw = read_npy(r.content)
    assert (descr, shape) == ("<f4", (2, 3))
    assert struct.unpack("<6f", raw) == (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
    loaded = subprocess.run(
        [
            str(python),
            "-c",
            "import io,sys,numpy; print(numpy.load(io.BytesIO(sys.stdin.buffer.read())).tolist())",
        ],
        input=r.content,
        capture_output=True,
        check=True,
    )
    assert loaded.stdout.strip() == b"[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]"
    # A list written by owt itself is read by numpy too.
    loaded = subprocess.run(
        [
            str(python),
            "-c",
            "import io,sys,numpy; print(numpy.load(io.BytesIO(sys.stdin.buffer.read())).tolist())",
        ],
        input=npy_bytes([[1.5, 2.5]]),
        capture_output=True,
        check=True,
    )
    assert loaded.stdout.strip() == b"[[1.5, 2.5]]"


def test_curl_form_fields_and_files(server: Any, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("no curl")
    (tmp_path / "cat.png").write_bytes(PNG)
    done = subprocess.run(
        [curl, "-s", "-F", "name=owt", "-F", "times=2", server.url + "/greet"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout == "Hello, owt!Hello, owt!"
    done = subprocess.run(
        [curl, "-s", "-F", f"image=@{tmp_path / 'cat.png'}", server.url + "/size"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(done.stdout) == EXPECTED
