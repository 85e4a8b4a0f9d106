"""Python clients for owt: send adaptor code (text, a file, a local function), get results.

    from owt.client import Client

    owt = Client("http://127.0.0.1:9876")
    owt.call("def run(name): return f'Hello, {name}!'", name="owt")  # 'Hello, owt!'
    owt.call("adaptors/hello.py", name="owt")                       # a file
    for event in owt.events("from owt.lib.stream import sse\\ndef run(): return sse([1, 2])"):
        print(event)                                                 # 1, then 2

    @owt.remote
    def add(a: int, b: int) -> int:
        return a + b

    add(1, 2)  # 3, computed by the server

Errors from the server raise :class:`OwtError` with its ``status``, ``kind`` and ``payload``,
as do answers that are no result: a redirect (kind ``redirect``; the client does not follow
one), a body that is not the JSON its content type says (``bad_result``), and a GET too long
for a URL (``too_long_for_url``, before sending). The client's own failures are subclasses:
:class:`ConnectionFailed` (no server there, or it closed the connection without answering),
:class:`ClientTimeout` (no answer within ``timeout``), :class:`StreamFailed` (a response
that failed after it started: an SSE ``event: error``, whose kind and ``traceback`` are the
server's, or cut short — ``stream_failed`` when the server still answers, ``connection_lost``
when it does not) and :class:`NotEventStream` (``events()`` on a call that answered no event
stream).
"""

from __future__ import annotations

from owt.client.aio import AsyncAdaptor, AsyncClient, AsyncEndpoint, AsyncRemoteFunction
from owt.client.base import DEFAULT_URL
from owt.client.sync import Adaptor, Client, Endpoint, RemoteFunction
from owt.client.wire import (
    ClientTimeout,
    Code,
    ConnectionFailed,
    NotEventStream,
    OwtError,
    Source,
    StreamFailed,
    decode_body,
    encode_body,
    encode_query,
    encode_url,
    source_of,
)

__all__ = [
    "DEFAULT_URL",
    "Adaptor",
    "AsyncAdaptor",
    "AsyncClient",
    "AsyncEndpoint",
    "AsyncRemoteFunction",
    "Client",
    "ClientTimeout",
    "Code",
    "ConnectionFailed",
    "Endpoint",
    "NotEventStream",
    "OwtError",
    "RemoteFunction",
    "Source",
    "StreamFailed",
    "decode_body",
    "encode_body",
    "encode_query",
    "encode_url",
    "source_of",
]
