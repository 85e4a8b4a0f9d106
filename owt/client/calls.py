"""What the blocking client calls: adaptor code, endpoints and remote functions.

Each is called for its result, streamed for its chunks, read for its events or its JSON
items; :class:`owt.client.Client` makes them (``adaptor()``, ``endpoint()``, ``remote``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
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
from owt.client.bodies import iter_chunks, iter_events, iter_items, read_result
from owt.client.wire import OwtError

if TYPE_CHECKING:
    from owt.client.sync import Client

__all__ = ["Adaptor", "Endpoint", "Opened", "RemoteFunction"]

P = ParamSpec("P")
Opened = contextlib.AbstractContextManager[httpx.Response]


class _Callable:
    """Something the server runs with keyword arguments: call it, stream it, read its events."""

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> Opened:
        raise NotImplementedError

    def __call__(self, /, **kwargs: Any) -> Any:
        """The result, decoded by its content type (JSON, text, bytes or None)."""
        with self._open(kwargs) as response:
            return read_result(response)

    def upload(
        self, body: Any, /, content_type: str = "application/octet-stream", **kwargs: Any
    ) -> Any:
        """Send ``body`` raw (bytes, a binary file, an iterator of bytes) for the adaptor to
        read as it arrives (``request.stream()``); ``kwargs`` go in the query. The result
        decoded as a call's::

            client.endpoint("transcribe").upload(open("take.wav", "rb"), "audio/wav", lang="en")
        """
        with self._open(kwargs, Upload.of(body, content_type)) as response:
            return read_result(response)

    def stream(self, /, **kwargs: Any) -> Iterator[str | bytes]:
        """The body's chunks as they arrive: ``str`` for text content types, else ``bytes``
        (an SSE stream's ``event: error`` raises its error after the chunks before it)."""
        with self._open(kwargs) as response:
            yield from iter_chunks(response)

    def events(self, /, **kwargs: Any) -> Iterator[Any]:
        """The data of each server-sent event (JSON-decoded when it parses), up to ``[DONE]``."""
        with self._open(kwargs) as response:
            yield from iter_events(response)

    def items(self, /, **kwargs: Any) -> Iterator[Any]:
        """The items of a generator of dicts, lists or numbers (which the server streams as
        JSON lines), each decoded as it arrives; another answer is one item, its result."""
        with self._open(kwargs) as response:
            yield from iter_items(response)


class Adaptor(_Callable):
    """Adaptor code bound to a client with its call options; see :meth:`Client.adaptor`."""

    def __init__(self, client: Client, spec: CallSpec) -> None:
        self.client = client
        self.spec = spec

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> Opened:
        return self.client._open_call(self.spec, kwargs, upload)

    def url(self, /, **kwargs: Any) -> str:
        """A GET URL that makes this call (for a browser, ``<img src>``, ``EventSource``),
        with the client's ``token`` as ``?token=`` (a browser sends no header)."""
        return self.spec.url(str(self.client.base_url), kwargs, self.client._token)

    def __repr__(self) -> str:
        return f"<Adaptor {self.spec.source.fn_name} {self.spec.source.sha256[:12]}>"


class Endpoint(_Callable):
    """A mounted or registered endpoint, called with plain arguments (:meth:`Client.endpoint`)."""

    def __init__(self, client: Client, name: str, method: str = "POST", **options: Any) -> None:
        self.client = client
        self.name = name
        self.method = method.upper()
        self.options = endpoint_options(options)

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> Opened:
        request = endpoint_request(
            self.name, self.method, kwargs, self.options, self.client._timeout, upload
        )
        return self.client._open(request)

    def __repr__(self) -> str:
        return f"<Endpoint /{self.name}>"


class RemoteFunction(Generic[P]):
    """A local function that runs on the server when called; see :meth:`Client.remote`."""

    def __init__(self, adaptor: Adaptor, fn: Callable[P, Any]) -> None:
        self.adaptor = adaptor
        self._signature = remote_signature(fn)
        self._result = scalar_result(fn)
        self._fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            result = self.adaptor(**bind_arguments(self._signature, args, kwargs))
        except OwtError as err:
            raise remote_error(self._fn, err) from None
        return self._result(result)

    def stream(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[str | bytes]:
        return self.adaptor.stream(**bind_arguments(self._signature, args, kwargs))

    def events(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
        return self.adaptor.events(**bind_arguments(self._signature, args, kwargs))

    def items(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
        return self.adaptor.items(**bind_arguments(self._signature, args, kwargs))
