"""What the sync and async clients share: connection options, call specs, argument binding."""

from __future__ import annotations

import contextlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from owt.client.events import connection_cut
from owt.client.progress import ProgressLine
from owt.client.query import json_text, query_arguments
from owt.client.urls import checked_query, get_too_long, server_url
from owt.client.wire import (
    CALL_FIELDS,
    ClientTimeout,
    ConnectionFailed,
    OwtError,
    Source,
    Upload,
    b64,
    encode_body,
    encode_query,
    encode_url,
    error_for,
    form_value,
    split_files,
)

__all__ = [
    "DEFAULT_URL",
    "ENDPOINT_OPTIONS",
    "HEALTH",
    "PROBE_SECONDS",
    "CallSpec",
    "after_progress",
    "bind_arguments",
    "cut_error",
    "endpoint_options",
    "endpoint_path",
    "endpoint_request",
    "http_options",
    "join_url",
    "progress_callback",
    "refused",
    "register_request",
    "remote_error",
    "remote_signature",
    "response_error",
    "scalar_result",
    "translated_errors",
    "unregister_request",
]

DEFAULT_URL = "http://127.0.0.1:9876"
ENDPOINTS = "/_owt/endpoints/"
#: Where a client asks, after a connection broke off, whether the server still answers.
HEALTH = "/_owt/health"
PROBE_SECONDS = 3.0


@dataclass(frozen=True)
class CallSpec:
    """Which code to run, at which path, by which method, with which call options."""

    source: Source
    path: str = "/"
    method: str = "POST"
    options: Mapping[str, Any] = field(default_factory=dict)

    def request(
        self,
        kwargs: Mapping[str, Any],
        *,
        by_hash: bool,
        timeout: float | None,
        upload: Upload | None = None,
    ) -> dict[str, Any]:
        """The arguments of ``httpx.Client.build_request`` for this call."""
        args: dict[str, Any] = {"method": self.method, "url": self.path}
        plain, files = split_files(kwargs)
        if upload is not None:  # the code and arguments in the query, the body raw
            upload.refuse(files)
            upload.apply(args, encode_query(self.source, kwargs, self.options, by_hash=by_hash))
        elif files:  # binary arguments travel as file parts of a multipart POST
            body = encode_body(self.source, plain, self.options, by_hash=by_hash)
            args["method"] = "POST" if self.method in ("GET", "HEAD") else self.method
            args["data"] = {name: form_value(value) for name, value in body.items()}
            args["files"] = files
        elif self.method in ("GET", "HEAD"):
            params = encode_query(self.source, kwargs, self.options, by_hash=by_hash)
            args["params"] = checked_query(self.path, params, get_too_long(params))
        else:
            _json_body(args, encode_body(self.source, kwargs, self.options, by_hash=by_hash))
        if self.options.get("requirements"):
            # Where the server must build an environment first, it shows its progress as
            # events before the result (owt.server.progress); the client reads them itself.
            args.setdefault("headers", {})["accept"] = "text/event-stream, */*;q=0.5"
        _outwait(args, self.options, timeout)
        return args

    def url(self, base_url: str, kwargs: Mapping[str, Any], token: str | None = None) -> str:
        url = join_url(base_url, self.path)
        return encode_url(url, self.source, kwargs, self.options, token=token)


ProgressOption = Callable[[Mapping[str, Any]], None] | bool | None


def progress_callback(option: ProgressOption) -> Callable[[Mapping[str, Any]], None] | None:
    """The client's ``progress`` option: a callable, False (silent), or None — a progress
    line on stderr when it is a terminal."""
    if option is None:
        return ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    if option is False or option is True:
        return ProgressLine(sys.stderr) if option else None
    return option


def after_progress(response: httpx.Response, head: Mapping[str, Any], body: Any) -> httpx.Response:
    """The call's own response, past the progress events of its environment's build: the
    status and content type of the ``result`` event, the body that follows it."""
    skip = ("content-type", "content-length", "transfer-encoding", "x-owt-progress")
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
    if head.get("content_type"):
        headers.append(("content-type", str(head["content_type"])))
    status = int(head.get("status", 200))
    return httpx.Response(status, headers=headers, content=body, request=response.request)


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def http_options(
    url: str,
    auth: tuple[str, str] | None,
    token: str | None,
    timeout: float | None,
    headers: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The options of the ``httpx`` client under an owt client."""
    merged = dict(headers or {})
    if token and not (token.isascii() and token.isprintable()):
        # httpx would raise UnicodeEncodeError at the first call, far from the cause.
        raise ValueError("token= must be printable ASCII: it goes in the Authorization header")
    if token:
        merged["authorization"] = f"Bearer {token}"
    return {
        "base_url": server_url(url),
        "auth": httpx.BasicAuth(*auth) if auth else None,
        "headers": merged,
        "timeout": httpx.Timeout(timeout),
    }


@contextlib.contextmanager
def translated_errors(url: object, timeout: float | None) -> Iterator[None]:
    """httpx's own errors as :class:`OwtError` subclasses, in one place for both clients:
    a refused or failed connection, the client's timeout, a body cut short."""
    try:
        yield
    except OwtError:
        raise
    except httpx.TimeoutException as exc:
        raise ClientTimeout(
            f"{url}: no answer within the client's timeout of {timeout}s ({type(exc).__name__});"
            " pass a larger timeout= to the client (None waits forever), or the call's own"
            " timeout= option, which the client waits for",
            timeout,
        ) from exc
    except httpx.TransportError as exc:
        raise ConnectionFailed(
            f"cannot reach {url}: {exc or type(exc).__name__} (is `owt serve` running there?)"
        ) from exc


def cut_error(
    exc: Exception, response: httpx.Response | None, server_up: bool, url: object
) -> OwtError:
    """The error for a connection that broke off (``response``: the answer it had begun, if
    any), from what the client knows: what httpx said, whether the server still answers
    (``server_up``: the clients ask :data:`HEALTH`), the request id the server gave."""
    head = None
    if response is not None:
        head = {"status": response.status_code, "request_id": response.headers.get("x-request-id")}
    return connection_cut(exc or type(exc).__name__, server_up=server_up, url=url, response=head)


def refused(response: httpx.Response) -> bool:
    """Whether a response is no result: an error, or a redirect (which the client does not
    follow, so that a call's result is its own)."""
    return response.is_error or response.is_redirect or response.has_redirect_location


def response_error(response: httpx.Response, content: bytes) -> OwtError:
    """The :class:`OwtError` for a :func:`refused` response and its body."""
    headers = response.headers
    return error_for(
        response.status_code, headers.get("content-type"), content, headers.get("location")
    )


_UNDEFINED = re.compile(r"name '(\w+)' is not defined")


def remote_error(fn: Callable[..., Any], err: OwtError) -> OwtError:
    """A remote function's NameError for a module it imports at the top of its file (only
    the function's source travels): the same error, saying to import inside the function."""
    if err.payload.get("type") != "NameError":
        return err
    found = _UNDEFINED.search(err.message)
    name = found.group(1) if found else None
    value = getattr(fn, "__globals__", {}).get(name) if name else None
    if value is None:
        return err
    what = "module" if inspect.ismodule(value) else "name"
    message = (
        f"{err.message} — {name!r} is a {what} of your file, but @remote sends only the "
        f"function's own source: import it inside {fn.__name__}() (or define it there)"
    )
    return type(err)(err.status, {**err.payload, "message": message})


def endpoint_path(name: str) -> str:
    return "/" + quote(name.strip("/"), safe="/")


#: The call options a request to an endpoint may set; the others belong to the endpoint.
ENDPOINT_OPTIONS = ("timeout", "use_cache", "cache_kwargs", "cache_key_override")


def endpoint_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``client.endpoint(NAME, timeout=5)``'s options, checked."""
    unknown = sorted(set(options) - set(ENDPOINT_OPTIONS))
    if unknown:
        raise TypeError(
            f"an endpoint call takes the options {', '.join(ENDPOINT_OPTIONS)}, not "
            f"{', '.join(unknown)} (the endpoint fixes the others; the function's own arguments "
            "go to the call: client.endpoint(NAME)(arg=...))"
        )
    return {k: v for k, v in options.items() if v is not None}


def endpoint_request(
    name: str,
    method: str,
    kwargs: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    upload: Upload | None = None,
) -> dict[str, Any]:
    """A mounted or registered endpoint takes plain arguments: a JSON body, or the query
    (always with an ``upload``, which is the body).

    In a query or a multipart form, the arguments that text carries faithfully are plain
    parameters (a list one per item) and the others travel in ``kwargs_b64``
    (:mod:`owt.client.query`), as does an argument named like a call field (``timeout``,
    ``env``, ...), which the server reads there as an argument and not as the call's own
    field; the call's own ``options`` go as plain fields. ``timeout`` is the client's wait,
    lengthened to outlast the call's own timeout.
    """
    args: dict[str, Any] = {"method": method, "url": endpoint_path(name)}
    options = options or {}
    plain, files = split_files(kwargs)
    if upload is not None:
        upload.refuse(files)
    named_like_fields = {k: plain.pop(k) for k in list(plain) if k in CALL_FIELDS}
    own = {k: form_value(v) for k, v in options.items()}
    if upload is not None:  # the body is the upload: arguments as JSON, types kept
        if kwargs:
            own["kwargs_b64"] = b64(json_text(dict(kwargs)), url_safe=True)
        upload.apply(args, own)
    elif files or method in ("GET", "HEAD"):
        params: dict[str, Any]
        params, rest = query_arguments(plain)
        rest.update(named_like_fields)
        if rest:
            params["kwargs_b64"] = b64(json_text(rest), url_safe=True)
        if files:  # binary arguments: a multipart POST, the others as its text fields
            args["method"] = "POST" if method in ("GET", "HEAD") else method
            args["data"] = {**params, **own}
            args["files"] = files
        else:
            query = {**params, **own}
            args["params"] = checked_query(args["url"], query, get_too_long(query))
    else:
        body = dict(plain)
        if named_like_fields:
            body["kwargs"] = named_like_fields
        _json_body(args, {**body, **options})
    _outwait(args, options, timeout)
    return args


def _json_body(args: dict[str, Any], body: Mapping[str, Any]) -> None:
    """A JSON body, strict: a ``nan`` argument is refused here, naming it (httpx's own
    refusal does not say which)."""
    args["content"] = json_text(body).encode()
    args.setdefault("headers", {})["content-type"] = "application/json"


def _outwait(args: dict[str, Any], options: Mapping[str, Any], timeout: float | None) -> None:
    """The client waits for the server to give up first (the call's ``timeout`` option), so
    its 504 arrives rather than the client's own timeout."""
    server_timeout = options.get("timeout")
    if server_timeout is not None and timeout is not None:
        args["timeout"] = max(timeout, float(server_timeout) + 5)


def register_request(name: str, source: Source, fields: Mapping[str, Any]) -> dict[str, Any]:
    body = encode_body(source, None, fields)
    return {"method": "PUT", "url": ENDPOINTS + quote(name.strip("/"), safe=""), "json": body}


def unregister_request(name: str) -> dict[str, Any]:
    return {"method": "DELETE", "url": ENDPOINTS + quote(name.strip("/"), safe="")}


def remote_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """The local signature of a remote function: without a leading ``request``/``_``, which
    the server fills in."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if params and params[0].name in ("request", "_"):
        signature = signature.replace(parameters=params[1:])
    return signature


_SCALARS: dict[object, Callable[[str], Any]] = {
    int: int,
    "int": int,
    float: float,
    "float": float,
    bool: lambda text: text == "True",
    "bool": lambda text: text == "True",
}


def scalar_result(fn: Callable[..., Any]) -> Callable[[Any], Any]:
    """How to read back a remote function's result.

    The server answers ``int``, ``float`` and ``bool`` results as their text (SPEC §4); a
    function annotated ``-> int`` (or float, bool) gets the number back, not ``"42"``.
    """
    convert = _SCALARS.get(inspect.signature(fn).return_annotation)
    if convert is None:
        return lambda value: value

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return convert(value.strip())
        except ValueError:
            return value

    return read


def bind_arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """Positional and keyword arguments of a local call → the keyword arguments to send."""
    bound = signature.bind(*args, **kwargs)
    sent: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            sent.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError(f"*{name} cannot be sent to the server; name the arguments")
        else:
            sent[name] = value
    return sent
