"""What a call looks like on the wire, without any I/O: sources, bodies, URLs, results, events.

The sync and async clients and the ``owt call | encode | url`` commands all build their
requests and read their responses here, so they agree byte for byte::

    >>> source = Source("def run(name): return name")
    >>> encode_body(source, {"name": "owt"})["kwargs"]
    {'name': 'owt'}
"""

from __future__ import annotations

import ast
import base64
import hashlib
import inspect
import os
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeGuard
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from owt.client.errors import (
    ClientTimeout,
    ConnectionFailed,
    NotEventStream,
    OwtError,
    StreamFailed,
)
from owt.client.events import EventReader, event_reader
from owt.client.query import json_text
from owt.client.results import (
    decode_body,
    error_for,
    is_text,
    is_unknown_code,
    keeps_code,
    media_type,
)
from owt.client.upload import Upload

__all__ = [
    "CALL_FIELDS",
    "ClientTimeout",
    "Code",
    "ConnectionFailed",
    "EventReader",
    "NotEventStream",
    "OwtError",
    "Source",
    "StreamFailed",
    "Upload",
    "b64",
    "decode_body",
    "encode_body",
    "encode_query",
    "encode_url",
    "error_for",
    "event_reader",
    "form_value",
    "function_source",
    "is_text",
    "is_unknown_code",
    "keeps_code",
    "media_type",
    "source_of",
    "split_files",
]


#: The fields of a call, as the server reads them (it keeps its own copy: the client imports
#: nothing of the server). An endpoint argument of such a name travels inside ``kwargs``.
CALL_FIELDS = frozenset(
    {
        "accelerator_type",
        "cache_key_override",
        "cache_kwargs",
        "code_b64",
        "code_sha256",
        "env",
        "fn_name",
        "kwargs",
        "kwargs_b64",
        "memory",
        "num_cpus",
        "num_gpus",
        "rebuild",
        "requirements",
        "resources",
        "timeout",
        "use_cache",
    }
)


@dataclass(frozen=True)
class Source:
    """Adaptor code and the name of the function to call in it."""

    code: str
    fn_name: str = "run"
    sha256: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The server drops an editor's UTF-8 BOM (as Python does) and hashes what is left.
        if self.code.startswith("\ufeff"):
            object.__setattr__(self, "code", self.code[1:])
        object.__setattr__(self, "sha256", hashlib.sha256(self.code.encode()).hexdigest())


Code: TypeAlias = str | os.PathLike[str] | bytes | Callable[..., Any] | Source
"""What a client accepts as an adaptor: code, a path to a file, a local function."""


def source_of(obj: Code, fn_name: str | None = None) -> Source:
    """The code of ``obj``: a ``Source``, a path (``Path`` or a string naming an existing
    file), a local function (its source, decorators dropped, ``fn_name`` its name), bytes
    (UTF-8), or any other string, taken as code.

    Code that is empty, or a file or bytes that are not UTF-8 text, is a ``ValueError``
    saying so (the server could only answer that no code came)."""
    source = _source_of(obj, fn_name)
    if not source.code.strip():
        what = f"the file {os.fspath(obj)!r}" if _is_path(obj) else "the code"
        raise ValueError(f"{what} is empty: there is no code to send")
    return source


def _is_path(obj: object) -> TypeGuard[str | os.PathLike[str]]:
    return isinstance(obj, os.PathLike) or (isinstance(obj, str) and _names_file(obj))


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}): "
            "save the code as UTF-8"
        ) from None


def _source_of(obj: Code, fn_name: str | None) -> Source:
    if isinstance(obj, Source):
        return Source(obj.code, fn_name or obj.fn_name)
    if _is_path(obj):
        path = os.fspath(obj)
        return Source(_text(Path(path).read_bytes(), f"the file {path!r}"), fn_name or "run")
    if isinstance(obj, bytes):
        return Source(_text(obj, "the code"), fn_name or "run")
    if isinstance(obj, str):
        if _FILE_NAME.fullmatch(obj.strip()):
            raise FileNotFoundError(
                f"no file {obj!r}: a string that names a .py file is sent as that file's code "
                "(check the path; to send code, pass the code itself)"
            )
        return Source(obj, fn_name or "run")
    if callable(obj):
        source = function_source(obj)
        return Source(source.code, fn_name or source.fn_name)
    raise TypeError(f"cannot send a {type(obj).__name__} as code; pass code, a path or a function")


# What a path to an adaptor file looks like (and code hardly ever does): no colon, no
# brackets, no quotes, ending in .py.
_FILE_NAME = re.compile(r"[\w\-./\\~ ]+\.py")


def _names_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def function_source(fn: Callable[..., Any]) -> Source:
    """A local function as code: its own source, dedented, without its decorators.

    Only the function travels — it must import what it uses inside its body.
    """
    fn = inspect.unwrap(fn)
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        raise TypeError(f"{fn!r} is not a Python function")
    if fn.__name__ == "<lambda>":
        raise TypeError("a lambda has no source of its own; define the function with def")
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise TypeError(f"cannot read the source of {fn.__qualname__}: {exc}")
    node = ast.parse(text).body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    # Decorators (``@client.remote``) mean nothing on the server: start at ``def``.
    lines = text.splitlines(keepends=True)
    return Source("".join(lines[node.lineno - 1 :]), fn.__name__)


def b64(data: str | bytes, *, url_safe: bool = False) -> str:
    raw = data.encode() if isinstance(data, str) else data
    if url_safe:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return base64.b64encode(raw).decode()


def _options(source: Source, options: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if source.fn_name != "run":
        fields["fn_name"] = source.fn_name
    fields.update({k: v for k, v in options.items() if v is not None})
    return fields


def encode_body(
    source: Source,
    kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    by_hash: bool = False,
) -> dict[str, Any]:
    """The POST JSON body of a call: the code (or its hash), ``kwargs`` as plain JSON."""
    body: dict[str, Any]
    body = {"code_sha256": source.sha256} if by_hash else {"code_b64": b64(source.code)}
    body.update(_options(source, options or {}))
    if kwargs:
        body["kwargs"] = dict(kwargs)
    return body


def encode_query(
    source: Source,
    kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    by_hash: bool = False,
) -> dict[str, str]:
    """The GET query of a call: URL-safe base64 code (or its hash) and ``kwargs_b64``."""
    query: dict[str, str]
    if by_hash:
        query = {"code_sha256": source.sha256}
    else:
        query = {"code_b64": b64(source.code, url_safe=True)}
    for name, value in _options(source, options or {}).items():
        query[name] = _query_value(value)
    if kwargs:
        query["kwargs_b64"] = b64(json_text(dict(kwargs)), url_safe=True)
    return query


FilePart: TypeAlias = tuple[str, bytes, str]
"""A file part as ``httpx`` sends it: (file name, bytes, content type)."""


def split_files(kwargs: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, FilePart]]:
    """Arguments → (the JSON-able ones, the binary ones as multipart file parts).

    ``bytes``, ``bytearray``, ``memoryview`` and open files (anything with ``read()``) travel
    as file parts, which the server hands back to the function as ``bytes``. A file is read
    here, once, so a call sent again (by hash, then in full) sends the same bytes.

    >>> split_files({"n": 1, "image": b"PNG"})
    ({'n': 1}, {'image': ('image', b'PNG', 'application/octet-stream')})
    """
    plain: dict[str, Any] = {}
    files: dict[str, FilePart] = {}
    for name, value in (kwargs or {}).items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            files[name] = (name, bytes(value), "application/octet-stream")
        elif callable(getattr(value, "read", None)):
            data = value.read()
            data = data.encode() if isinstance(data, str) else bytes(data)
            filename = os.path.basename(str(getattr(value, "name", "") or name))
            files[name] = (filename, data, "application/octet-stream")
        else:
            plain[name] = value
    return plain, files


def form_value(value: Any) -> str:
    """A call field's value as query or multipart text: strings as they are, booleans
    ``true``/``false``, anything else strict JSON."""
    return _query_value(value)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json_text(value)


def encode_url(
    url: str,
    source: Source,
    kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
) -> str:
    """A GET URL that runs the call — for a browser, an ``<img src>`` or an ``EventSource``.
    A ``token`` (a server's ``--token``) goes in it as ``?token=``, since a browser opening
    the URL sends no header: whoever has the URL has the token.

    The URL's own path and query are percent-encoded as a browser sends them (a space, a
    non-ASCII letter; what is already percent-encoded stays), so the URL can be pasted
    into a shell or a ``curl`` command as it is::

        >>> encode_url("http://h/a b?q=x y", Source("def run(): pass"))[:30]
        'http://h/a%20b?q=x%20y&code_b6'
    """
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    call = urlencode(encode_query(source, kwargs, options))
    if token:
        call += "&" + urlencode({"token": token})
    query = f"{query}&{call}" if query else call
    # A fragment stays last, where it stays in the browser (the call's query goes before it).
    return urlunsplit((parts.scheme, parts.netloc, path, query, quote(parts.fragment, _QUERY_SAFE)))


# RFC 3986's characters that may stand in a path or a query as they are, ``%`` too: an escape
# already in the URL is kept (a browser and httpx leave it so).
_PATH_SAFE = "/%:@!$&'()*+,;=~"
_QUERY_SAFE = _PATH_SAFE + "?"
