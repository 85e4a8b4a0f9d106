"""The blocking client.

from owt.client import Client

with Client("http://127.0.0.1:9876") as owt:
    owt.call("def run(name): return f'Hello, {name}!'", name="owt")  # 'Hello, owt!'
    for chunk in owt.stream("adaptors/tts.py", text="Hi. Bye."):
        ...
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, overload

import httpx

from owt.client.base import (
    DEFAULT_URL,
    HEALTH,
    PROBE_SECONDS,
    CallSpec,
    ProgressOption,
    Upload,
    after_progress,
    cut_error,
    http_options,
    progress_callback,
    refused,
    register_request,
    response_error,
    translated_errors,
    unregister_request,
)
from owt.client.bodies import CUT, read_result
from owt.client.calls import Adaptor, Endpoint, Opened, RemoteFunction
from owt.client.progress import ProgressLine, ProgressReader
from owt.client.wire import Code, is_unknown_code, keeps_code, source_of

__all__ = ["Adaptor", "Client", "Endpoint", "RemoteFunction"]

P = ParamSpec("P")


class Client:
    """Calls adaptors on one owt server.

    ``auth=(user, password)`` for ``--auth`` servers, ``token=`` for ``--token`` ones.
    ``timeout`` bounds each wait on the server (seconds; None waits forever); a call with a
    longer server-side ``timeout`` option waits for that. Code the client has sent once goes
    by its sha256 afterwards, and again in full if the server no longer holds it.

    While the server builds the environment a call's ``requirements`` ask for, ``progress``
    receives each progress event (``{"phase": "downloading", "detail": ..., "elapsed": ...}``);
    by default a line on stderr shows them when it is a terminal (``progress=False``: never).

    ``url`` without a scheme (``127.0.0.1:9876``) is plain HTTP. A redirect is not followed:
    it raises :class:`OwtError` of kind ``redirect``, naming where it points.
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
        self._token = token
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

    def items(self, code: Code, /, **kwargs: Any) -> Iterator[Any]:
        """Run code that yields dicts, lists or numbers; each item, decoded as it arrives."""
        return self.adaptor(code).items(**kwargs)

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
        """A GET URL that runs code with ``kwargs``; the client's ``token``, if it has one,
        goes in it as ``?token=`` (whoever has the URL can call the server with it)."""
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
            return read_result(response)

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

    def _open(self, request: Mapping[str, Any]) -> Opened:
        def send() -> httpx.Response:
            return self._http.send(self._http.build_request(**request), stream=True)

        return self._opened(send, self._checked)

    def _open_call(
        self, spec: CallSpec, kwargs: Mapping[str, Any], upload: Upload | None = None
    ) -> Opened:
        return self._opened(lambda: self._send_call(spec, kwargs, upload), self._past_progress)

    @contextlib.contextmanager
    def _opened(
        self,
        send: Callable[[], httpx.Response],
        ready: Callable[[httpx.Response], httpx.Response],
    ) -> Iterator[httpx.Response]:
        """The response ``send`` gives, made ``ready``, closed when the caller is done. Its
        body is read inside the caller's ``with``, so its errors are translated here too."""
        response: httpx.Response | None = None
        with translated_errors(self.base_url, self._timeout):
            try:
                response = send()
                try:
                    yield ready(response)
                finally:
                    response.close()
            except CUT as exc:
                raise cut_error(exc, response, self._answers(), self.base_url) from exc

    def _answers(self) -> bool:
        """Whether the server still answers (asked after a connection to it broke off)."""
        try:
            self._http.get(HEALTH, timeout=PROBE_SECONDS)
        except httpx.HTTPError:
            return False
        return True

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
        if refused(response):
            try:
                content = response.read()
            finally:
                response.close()
            raise response_error(response, content)
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.base_url}>"
