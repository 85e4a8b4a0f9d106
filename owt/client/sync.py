"""The blocking client.

from owt.client import Client

with Client("http://127.0.0.1:9876") as owt:
    owt.call("def run(name): return f'Hello, {name}!'", name="owt")  # 'Hello, owt!'
    for chunk in owt.stream("adaptors/tts.py", text="Hi. Bye."):
        ...
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, ParamSpec, overload

import httpx

from owt.client.base import (
    DEFAULT_URL,
    CallSpec,
    ProgressOption,
    Upload,
    after_progress,
    bind_arguments,
    endpoint_options,
    endpoint_request,
    http_options,
    progress_callback,
    read_body,
    register_request,
    remote_error,
    remote_signature,
    scalar_result,
    translated_errors,
    unregister_request,
)
from owt.client.progress import ProgressLine, ProgressReader
from owt.client.wire import (
    Code,
    OwtError,
    decode_body,
    error_for,
    event_reader,
    is_text,
    is_unknown_code,
    keeps_code,
    source_of,
)

__all__ = ["Adaptor", "Client", "Endpoint", "RemoteFunction"]

P = ParamSpec("P")
Opened = contextlib.AbstractContextManager[httpx.Response]


class _Callable:
    """Something the server runs with keyword arguments: call it, stream it, read its events."""

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> Opened:
        raise NotImplementedError

    def __call__(self, /, **kwargs: Any) -> Any:
        """The result, decoded by its content type (JSON, text, bytes or None)."""
        with self._open(kwargs) as response:
            return decode_body(response.headers.get("content-type"), read_body(response))

    def upload(
        self, body: Any, /, content_type: str = "application/octet-stream", **kwargs: Any
    ) -> Any:
        """Send ``body`` raw (bytes, a binary file, an iterator of bytes) for the adaptor to
        read as it arrives (``request.stream()``); ``kwargs`` go in the query. The result
        decoded as a call's::

            client.endpoint("transcribe").upload(open("take.wav", "rb"), "audio/wav", lang="en")
        """
        with self._open(kwargs, Upload(body, content_type)) as response:
            return decode_body(response.headers.get("content-type"), read_body(response))

    def stream(self, /, **kwargs: Any) -> Iterator[str | bytes]:
        """The body's chunks as they arrive: ``str`` for text content types, else ``bytes``."""
        with self._open(kwargs) as response:
            text = is_text(response.headers.get("content-type"))
            chunks = response.iter_text() if text else response.iter_bytes()
            for chunk in chunks:
                if chunk:
                    yield chunk

    def events(self, /, **kwargs: Any) -> Iterator[Any]:
        """The data of each server-sent event (JSON-decoded when it parses), up to ``[DONE]``."""
        with self._open(kwargs) as response:
            reader = event_reader(response.status_code, response.headers)
            for line in response.iter_lines():
                yield from reader.feed(line)
                if reader.done:
                    return
            yield from reader.flush()


class Adaptor(_Callable):
    """Adaptor code bound to a client with its call options; see :meth:`Client.adaptor`."""

    def __init__(self, client: Client, spec: CallSpec) -> None:
        self.client = client
        self.spec = spec

    def _open(self, kwargs: Mapping[str, Any], upload: Upload | None = None) -> Opened:
        return self.client._open_call(self.spec, kwargs, upload)

    def url(self, /, **kwargs: Any) -> str:
        """A GET URL that makes this call (for a browser, ``<img src>``, ``EventSource``)."""
        return self.spec.url(str(self.client.base_url), kwargs)

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


class Client:
    """Calls adaptors on one owt server.

    ``auth=(user, password)`` for ``--auth`` servers, ``token=`` for ``--token`` ones.
    ``timeout`` bounds each wait on the server (seconds; None waits forever); a call with a
    longer server-side ``timeout`` option waits for that. Code the client has sent once goes
    by its sha256 afterwards, and again in full if the server no longer holds it.

    While the server builds the environment a call's ``requirements`` ask for, ``progress``
    receives each progress event (``{"phase": "downloading", "detail": ..., "elapsed": ...}``);
    by default a line on stderr shows them when it is a terminal (``progress=False``: never).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
        timeout: float | None = 60.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        progress: ProgressOption = None,
    ) -> None:
        options = http_options(url, auth, token, timeout, headers)
        self._http = httpx.Client(**options, verify=verify, transport=transport)
        self._timeout = timeout
        self._sent: set[str] = set()
        self._progress = progress_callback(progress)

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    def adaptor(
        self,
        code: Code,
        /,
        *,
        fn_name: str | None = None,
        path: str = "/",
        method: str = "POST",
        **options: Any,
    ) -> Adaptor:
        """Bind code (source text, a path to a file, or a local function) with call options
        (``env``, ``use_cache``, ``cache_kwargs``, ``cache_key_override``, ``requirements``,
        ``timeout`` — SPEC §2) to call, stream or link to with arguments later::

            hello = client.adaptor("hello.py", path="/hello", use_cache=True)
            hello(name="owt"); hello.url(name="owt")
        """
        spec = CallSpec(source_of(code, fn_name), path, method.upper(), options)
        return Adaptor(self, spec)

    def call(self, code: Code, /, **kwargs: Any) -> Any:
        """Run code with ``kwargs``; the result decoded (JSON, text, bytes or None)."""
        return self.adaptor(code)(**kwargs)

    def stream(self, code: Code, /, **kwargs: Any) -> Iterator[str | bytes]:
        """Run code; its body's chunks as they arrive (``str`` for text, else ``bytes``)."""
        return self.adaptor(code).stream(**kwargs)

    def events(self, code: Code, /, **kwargs: Any) -> Iterator[Any]:
        """Run code that answers with server-sent events; each event's data."""
        return self.adaptor(code).events(**kwargs)

    def upload(
        self,
        code: Code,
        body: Any,
        /,
        content_type: str = "application/octet-stream",
        **kwargs: Any,
    ) -> Any:
        """Run code with ``body`` sent raw, for it to read with ``request.stream()``."""
        return self.adaptor(code).upload(body, content_type, **kwargs)

    def url(self, code: Code, /, **kwargs: Any) -> str:
        """A GET URL that runs code with ``kwargs``."""
        return self.adaptor(code).url(**kwargs)

    def endpoint(self, name: str, method: str = "POST", **options: Any) -> Endpoint:
        """The endpoint at ``/NAME``: ``client.endpoint("tts")(text="Hi")``. Its call options
        (``timeout``, ``use_cache``, ``cache_kwargs``, ``cache_key_override``) are given here:
        ``client.endpoint("tts", timeout=60)``; every argument of the call goes to the function."""
        return Endpoint(self, name, method, **options)

    def register(self, name: str, code: Code, /, **fields: Any) -> Any:
        """Register code as the endpoint ``/NAME`` (``PUT /_owt/endpoints/NAME``)."""
        source = source_of(code, fields.pop("fn_name", None))
        with self._open(register_request(name, source, fields)) as response:
            return decode_body(response.headers.get("content-type"), response.read())

    def unregister(self, name: str) -> None:
        """Remove the registered endpoint ``/NAME``."""
        with self._open(unregister_request(name)):
            pass

    @overload
    def remote(self, fn: Callable[P, Any], /) -> RemoteFunction[P]: ...

    @overload
    def remote(
        self, fn: None = None, /, **options: Any
    ) -> Callable[[Callable[P, Any]], RemoteFunction[P]]: ...

    def remote(
        self, fn: Callable[P, Any] | None = None, /, **options: Any
    ) -> RemoteFunction[P] | Callable[[Callable[P, Any]], RemoteFunction[P]]:
        """Run a local function on the server whenever it is called::

            @client.remote
            def shout(text: str) -> str:
                return text.upper()

            shout("hi")  # 'HI', computed by the server

        Only the function's own source travels: import what it needs inside it. Options
        (``@client.remote(env="ml")``) are those of :meth:`adaptor`.
        """

        def wrap(f: Callable[P, Any]) -> RemoteFunction[P]:
            return RemoteFunction(self.adaptor(f, **options), f)

        return wrap if fn is None else wrap(fn)

    @contextlib.contextmanager
    def _open(self, request: Mapping[str, Any]) -> Iterator[httpx.Response]:
        # The body is read inside the caller's ``with``: its errors are translated here too.
        with translated_errors(self.base_url, self._timeout):
            response = self._http.send(self._http.build_request(**request), stream=True)
            try:
                yield self._checked(response)
            finally:
                response.close()

    @contextlib.contextmanager
    def _open_call(
        self, spec: CallSpec, kwargs: Mapping[str, Any], upload: Upload | None = None
    ) -> Iterator[httpx.Response]:
        with translated_errors(self.base_url, self._timeout):
            response = self._send_call(spec, kwargs, upload)
            try:
                yield self._past_progress(response)
            finally:
                response.close()

    def _past_progress(self, response: httpx.Response) -> httpx.Response:
        """The call's own response behind its environment's build progress, if any."""
        if response.headers.get("x-owt-progress") != "1":
            return response
        reader = ProgressReader(self._progress)
        chunks = response.iter_bytes()
        try:
            for chunk in chunks:
                reader.feed(chunk)
                if reader.finished:
                    break
            else:
                reader.end()
        finally:
            if isinstance(self._progress, ProgressLine):
                self._progress.close()
        if reader.error is not None:
            raise reader.error
        assert reader.head is not None

        def body() -> Iterator[bytes]:
            if reader.rest:
                yield reader.rest
            yield from chunks

        return after_progress(response, reader.head, body())

    def _send_call(
        self, spec: CallSpec, kwargs: Mapping[str, Any], upload: Upload | None = None
    ) -> httpx.Response:
        """Send by hash when this server has had the code, else (or when it forgot) in full;
        an upload that cannot be sent twice always goes with the code."""
        sha = spec.source.sha256
        if sha in self._sent and (upload is None or upload.replayable):
            response = self._send(spec, kwargs, upload, by_hash=True)
            if not self._is_unknown_code(response):
                return self._checked(response)
            self._sent.discard(sha)
        response = self._send(spec, kwargs, upload, by_hash=False)
        if keeps_code(response.status_code):
            self._sent.add(sha)
        return self._checked(response)

    def _send(
        self, spec: CallSpec, kwargs: Mapping[str, Any], upload: Upload | None, *, by_hash: bool
    ) -> httpx.Response:
        args = spec.request(kwargs, by_hash=by_hash, timeout=self._timeout, upload=upload)
        return self._http.send(self._http.build_request(**args), stream=True)

    @staticmethod
    def _is_unknown_code(response: httpx.Response) -> bool:
        if response.status_code != 404:
            return False
        if is_unknown_code(404, response.read()):
            response.close()
            return True
        return False

    @staticmethod
    def _checked(response: httpx.Response) -> httpx.Response:
        if response.is_error:
            try:
                content = response.read()
            finally:
                response.close()
            raise error_for(response.status_code, response.headers.get("content-type"), content)
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.base_url}>"
