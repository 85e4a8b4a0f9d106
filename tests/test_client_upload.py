"""The clients' ``upload``: a raw body the adaptor reads with ``request.stream()``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import make_wheel

from owt.client import AsyncClient, Client, OwtError

MiB = 1024 * 1024
DIGEST = """
import hashlib
def run(request, label="body"):
    digest, chunks = hashlib.sha256(), 0
    for chunk in request.stream():
        digest.update(chunk)
        chunks += 1
    return {"label": label, "sha": digest.hexdigest(), "chunks": chunks,
            "type": request.content_type, "kind": type(request).__name__}
"""


class Sent(httpx.BaseTransport):
    """A real transport that notes each request's query fields and content type."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[tuple[set[str], str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fields = {name for name, _ in request.url.params.multi_items()}
        self.sent.append((fields, request.headers.get("content-type", "")))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_upload_of_bytes_a_file_or_chunks_streams_to_the_adaptor(
    owt_server: Any, tmp_path: Path
) -> None:
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    saved = tmp_path / "take.bin"
    saved.write_bytes(data)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(data), 300_000):
            yield data[start : start + 300_000]

    sent = Sent()
    with Client(owt_server.url, timeout=30, transport=sent) as client:
        first = client.upload(DIGEST, data, label="bytes")
        assert first["sha"] == sha(data) and first["label"] == "bytes"
        assert first["kind"] == "StreamedRequest" and first["chunks"] > 1
        assert first["type"] == "application/octet-stream"
        with saved.open("rb") as file:
            assert client.upload(DIGEST, file, "audio/wav")["type"] == "audio/wav"
        assert client.upload(DIGEST, pieces())["sha"] == sha(data)
        assert client.upload(DIGEST, data)["sha"] == sha(data)
    # The code goes by its hash once the server has it, except with a body that cannot be
    # sent again (were the server to have forgotten the code).
    assert [fields for fields, _ in sent.sent] == [
        {"code_b64", "kwargs_b64"},
        {"code_b64"},
        {"code_b64"},
        {"code_sha256"},
    ]


def test_an_endpoint_takes_an_upload_with_its_arguments(owt_server: Any) -> None:
    name = f"upload-{time.time_ns()}"
    data = b"w" * (2 * MiB)
    with Client(owt_server.url, timeout=30) as client:
        client.register(name, DIGEST)
        try:
            answer = client.endpoint(name).upload(iter([data]), "audio/wav", label="take 1")
        finally:
            client.unregister(name)
    assert answer["sha"] == sha(data) and answer["label"] == "take 1"
    assert answer["type"] == "audio/wav"


def test_an_endpoint_upload_keeps_its_arguments_types(owt_server: Any) -> None:
    # Arguments travel as JSON in the query: an untyped function gets 3, not "3"; a typed
    # one gets its list (a query parameter "[1, 2]" would not convert).
    code = (
        "def run(request, n, flags, tags: list[int]):\n"
        "    return [n, flags, tags, len(request.data)]\n"
    )
    name = f"kinds-{time.time_ns()}"
    with Client(owt_server.url, timeout=30) as client:
        client.register(name, code)
        try:
            got = client.endpoint(name).upload(b"xy", n=3, flags=True, tags=[1, 2])
        finally:
            client.unregister(name)
    assert got == [3, True, [1, 2], 2]


def test_bytearrays_views_and_pipes_upload(owt_server: Any) -> None:
    data = b"p" * (2 * MiB)
    read, write = os.pipe()  # a pipe's size reads 0: it must go with no declared length
    feeder = threading.Thread(target=lambda: (os.write(write, data), os.close(write)))
    feeder.start()
    with Client(owt_server.url, timeout=30) as client, os.fdopen(read, "rb") as pipe:
        assert client.upload(DIGEST, pipe)["sha"] == sha(data)
        assert client.upload(DIGEST, bytearray(b"abc"))["sha"] == sha(b"abc")
        assert client.upload(DIGEST, memoryview(b"abcd")[1:])["sha"] == sha(b"bcd")
    feeder.join()


def test_an_upload_with_requirements_still_streams(start_server: Any, tmp_path: Path) -> None:
    # Its set's environment is worker processes, which take the body as it comes.
    make_wheel(tmp_path, "owtupload", {"owtupload.py": b"X = 1\n"})
    offline = {"UV_FIND_LINKS": str(tmp_path), "UV_NO_INDEX": "1", "UV_OFFLINE": "1"}
    offline |= {"PIP_FIND_LINKS": str(tmp_path), "PIP_NO_INDEX": "1"}
    server = start_server("--state-dir", str(tmp_path / "state"), env=offline)
    with Client(server.url, timeout=120, progress=False) as client:
        adaptor = client.adaptor(DIGEST, requirements=["owtupload"])
        answer = adaptor.upload(iter([b"r" * MiB] * 3))
    assert answer["kind"] == "StreamedRequest" and answer["chunks"] > 1


def test_an_upload_and_binary_arguments_do_not_mix(owt_server: Any) -> None:
    with Client(owt_server.url, timeout=30) as client, pytest.raises(TypeError, match="both"):
        client.upload(DIGEST, b"body", label=b"bytes too")


def test_code_too_long_for_an_uploads_url_says_to_make_it_an_endpoint(owt_server: Any) -> None:
    code = DIGEST + "\nPAD = '" + "x" * 60_000 + "'\n"
    with Client(owt_server.url, timeout=30) as client:
        with pytest.raises(OwtError, match="register") as raised:
            client.upload(code, b"body")
        assert raised.value.kind == "too_long_for_url"
        client.register("long-digest", code)  # as it says
        try:
            assert client.endpoint("long-digest").upload(b"body")["sha"] == sha(b"body")
        finally:
            client.unregister("long-digest")


def test_the_async_client_uploads_bytes_and_async_chunks(owt_server: Any) -> None:
    data = b"a" * (2 * MiB) + b"b"

    async def pieces() -> AsyncIterator[bytes]:
        yield data[:MiB]
        await asyncio.sleep(0.01)
        yield data[MiB:]

    async def scenario() -> list[Any]:
        async with AsyncClient(owt_server.url, timeout=30) as client:
            return [
                await client.upload(DIGEST, data, label="async"),
                await client.adaptor(DIGEST).upload(pieces(), "text/plain"),
            ]

    whole, chunked = asyncio.run(scenario())
    assert whole["sha"] == chunked["sha"] == sha(data)
    assert whole["label"] == "async" and chunked["type"] == "text/plain"

    async def a_sync_iterator() -> None:
        async with AsyncClient(owt_server.url, timeout=30) as client:
            await client.upload(DIGEST, iter([b"x"]))

    with pytest.raises(TypeError, match="async iterator"):
        asyncio.run(a_sync_iterator())
