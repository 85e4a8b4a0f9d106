"""What the async client calls: adaptor code, endpoints and remote functions, awaited.

Each is called for its result, streamed for its chunks, read for its events or its JSON
items; :class:`owt.client.AsyncClient` makes them (``adaptor()``, ``endpoint()``, ``remote``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec

import httpx

from owt.client.base import (
    CallSpec,
    Upload,
    bind_arguments,
    endpoint_options,
    endpoint_request,
    remote_error,
    remote_signature,
    scalar_result,
)
from owt.client.bodies import aiter_chunks, aiter_events, aiter_items, aread_result
from owt.client.wire import OwtError

if TYPE_CHECKING:
    from owt.client.aio import AsyncClient

__all__ = ["AsyncAdaptor", "AsyncEndpoint", "AsyncOpened", "AsyncRemoteFunction"]

P = ParamSpec("P")
AsyncOpened = contextlib.AbstractAsyncContextManager[httpx.Response]


class _Callable:
    """Something the server runs with keyword arguments: call it, stream it, read its events."""

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> AsyncOpened:
        raise NotImplementedError

    async def __call__(self, /, **kwargs: Any) -> Any:
        """The result, decoded by its content type (JSON, text, bytes or None)."""
        async with self._open(kwargs) as response:
            return await aread_result(response)

    async def upload(
        self, body: Any, /, content_type: str = "application/octet-stream", **kwargs: Any
    ) -> Any:
        """Send ``body`` raw (bytes, or an async iterator of bytes) for the adaptor to read as
        it arrives (``request.stream()``); ``kwargs`` go in the query. The result decoded."""
        upload = Upload.of(body, content_type, asynchronous=True)
        async with self._open(kwargs, upload) as response:
            return await aread_result(response)

    async def stream(self, /, **kwargs: Any) -> AsyncIterator[str | bytes]:
        """The body's chunks as they arrive: ``str`` for text content types, else ``bytes``
        (an SSE stream's ``event: error`` raises its error after the chunks before it)."""
        async with self._open(kwargs) as response:
            async for chunk in aiter_chunks(response):
                yield chunk

    async def events(self, /, **kwargs: Any) -> AsyncIterator[Any]:
        """The data of each server-sent event (JSON-decoded when it parses), up to ``[DONE]``."""
        async with self._open(kwargs) as response:
            async for event in aiter_events(response):
                yield event

    async def items(self, /, **kwargs: Any) -> AsyncIterator[Any]:
        """The items of a generator of dicts, lists or numbers (which the server streams as
        JSON lines), each decoded as it arrives; another answer is one item, its result."""
        async with self._open(kwargs) as response:
            async for item in aiter_items(response):
                yield item


class AsyncAdaptor(_Callable):
    """Adaptor code bound to a client with its call options; see :meth:`AsyncClient.adaptor`."""

    def __init__(self, client: AsyncClient, spec: CallSpec) -> None:
        self.client = client
        self.spec = spec

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> AsyncOpened:
        return self.client._open_call(self.spec, kwargs, upload)

    def url(self, /, **kwargs: Any) -> str:
        """A GET URL that makes this call (for a browser, ``<img src>``, ``EventSource``),
        with the client's ``token`` as ``?token=`` (a browser sends no header)."""
        return self.spec.url(str(self.client.base_url), kwargs, self.client._token)

    def __repr__(self) -> str:
        return f"<AsyncAdaptor {self.spec.source.fn_name} {self.spec.source.sha256[:12]}>"


class AsyncEndpoint(_Callable):
    """A mounted or registered endpoint with plain arguments (:meth:`AsyncClient.endpoint`)."""

    def __init__(
        self, client: AsyncClient, name: str, method: str = "POST", **options: Any
    ) -> None:
        self.client = client
        self.name = name
        self.method = method.upper()
        self.options = endpoint_options(options)

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> AsyncOpened:
        request = endpoint_request(
            self.name, self.method, kwargs, self.options, self.client._timeout, upload
        )
        return self.client._open(request)

    def __repr__(self) -> str:
        return f"<AsyncEndpoint /{self.name}>"


class AsyncRemoteFunction(Generic[P]):
    """A local function that runs on the server when called; see :meth:`AsyncClient.remote`."""

    def __init__(self, adaptor: AsyncAdaptor, fn: Callable[P, Any]) -> None:
        self.adaptor = adaptor
        self._signature = remote_signature(fn)
        self._result = scalar_result(fn)
        self._fn = fn
        functools.update_wrapper(self, fn)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            result = await self.adaptor(**bind_arguments(self._signature, args, kwargs))
        except OwtError as err:
            raise remote_error(self._fn, err) from None
        return self._result(result)

    def stream(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[str | bytes]:
        return self.adaptor.stream(**bind_arguments(self._signature, args, kwargs))

    def events(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
        return self.adaptor.events(**bind_arguments(self._signature, args, kwargs))

    def items(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
        return self.adaptor.items(**bind_arguments(self._signature, args, kwargs))
