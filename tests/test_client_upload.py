"""The clients' ``upload``: a raw body the adaptor reads with ``request.stream()``."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from owt.client import AsyncClient, Client

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


def test_an_upload_and_binary_arguments_do_not_mix(owt_server: Any) -> None:
    with Client(owt_server.url, timeout=30) as client, pytest.raises(TypeError, match="both"):
        client.upload(DIGEST, b"body", label=b"bytes too")


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
