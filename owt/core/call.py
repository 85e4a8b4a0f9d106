"""The plain values that cross every boundary: ``Request``, ``Call``, ``Reply``, ``Response``.

They hold only str, bytes, numbers, lists and dicts, so they pickle into worker processes of
any Python >= 3.10 and into Ray actors unchanged. Stdlib only.
"""

from __future__ import annotations

import json
import operator
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from owt.core.body import Chunks

__all__ = [
    "CALL_FIELDS", "Call", "FilePart", "Files", "Headers", "MultiDict", "Reply", "Request",
    "Response", "parse_query",
]  # fmt: skip

#: The request fields owt itself reads (SPEC §2); any other field is the adaptor's to read.
CALL_FIELDS = frozenset(
    {
        "code_b64",
        "kwargs_b64",
        "kwargs",
        "fn_name",
        "use_cache",
        "cache_kwargs",
        "cache_key_override",
        "code_sha256",
        "env",
        "requirements",
        "rebuild",
        "timeout",
        "num_cpus",
        "num_gpus",
        "memory",
        "accelerator_type",
        "resources",
    }
)


_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, as Windows editors save files

# A warm call sends the same adaptor text again and again: such values are unquoted once
# (within bounds: at most 256 remembered, each at most 64 KiB).
_unquote_remembered = lru_cache(maxsize=256)(unquote_plus)


def parse_query(text: str) -> list[tuple[str, str]]:
    """``a=1&b=x+y`` → pairs, blank values kept: ``parse_qsl(keep_blank_values=True)``,
    without its per-pair overhead (every warm call parses its query string)."""
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            unquote = _unquote_remembered if 16 < len(value) <= 65536 else unquote_plus
            value = unquote(value)
        pairs.append((name, value))
    return pairs


class MultiDict(dict[str, str]):
    """A dict of first values per key that also keeps every value (Flask's ``args``)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self._lists: dict[str, list[str]] = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getlist(self, key: str) -> list[str]:
        return list(self._lists.get(key, ()))

    def lists(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._lists.items()}

    def collapsed(self) -> dict[str, Any]:
        """Each key's value, or the list of its values when it was repeated."""
        return {k: v[0] if len(v) == 1 else list(v) for k, v in self._lists.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (MultiDict, ([(k, v) for k, vs in self._lists.items() for v in vs],))


@dataclass
class FilePart:
    """One file part of a multipart body: its field name, file name, content type and bytes.

    >>> part = FilePart("image", "cat.png", "image/png", b"\\x89PNG")
    >>> part.size, part.read()[:4]
    (4, b'\\x89PNG')
    """

    name: str
    filename: str | None = None
    content_type: str = "application/octet-stream"
    data: bytes = b""

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self) -> bytes:
        return self.data


class Files(dict[str, FilePart]):
    """The file parts of a request by field name (the first per name; ``getlist`` for all)."""

    def __init__(self, parts: Iterable[FilePart] = ()) -> None:
        super().__init__()
        self._parts = list(parts)
        for part in self._parts:
            self.setdefault(part.name, part)

    def getlist(self, key: str) -> list[FilePart]:
        return [part for part in self._parts if part.name == key]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Files, (self._parts,))


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers; repeated names join with ``, ``."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = list(pairs)
        merged: dict[str, str] = {}
        for name, value in self._pairs:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        self._merged = merged

    def __getitem__(self, key: str) -> str:
        return self._merged[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._merged

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged)

    def __len__(self) -> int:
        return len(self._merged)

    def getlist(self, key: str) -> list[str]:
        key = key.lower()
        return [v for n, v in self._pairs if n.lower() == key]

    def __repr__(self) -> str:
        return f"Headers({self._merged!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (self._pairs,))


T = TypeVar("T")


class _once(Generic[T]):
    """``functools.cached_property`` without its lock (3.11 takes one on every first read).

    A Request belongs to one call, so two threads never compute the same attribute at once.
    """

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass
class Request:
    """A snapshot of the HTTP request, with Flask's attribute names.

    >>> r = Request(method="GET", path="/hello", query_string="name=owt&x=1&x=2")
    >>> r.args["name"], r.args.getlist("x"), r.full_path
    ('owt', ['1', '2'], '/hello?name=owt&x=1&x=2')
    """

    method: str = "GET"
    path: str = "/"
    query_string: str = ""
    header_pairs: list[tuple[str, str]] = field(default_factory=list)
    data: bytes = b""
    scheme: str = "http"
    remote_addr: str | None = None
    root_path: str = ""
    #: A multipart body, read by the server: its text fields and its file parts (``data`` is
    #: then empty, as in Flask, so the bytes cross to a worker once).
    form_pairs: list[tuple[str, str]] | None = None
    file_parts: list[FilePart] = field(default_factory=list)

    @_once
    def headers(self) -> Headers:
        return Headers(self.header_pairs)

    @_once
    def args(self) -> MultiDict:
        return MultiDict(parse_query(self.query_string))

    @property
    def host(self) -> str:
        return self.headers.get("host", "localhost")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def full_path(self) -> str:
        return f"{self.path}?{self.query_string}"

    @property
    def host_url(self) -> str:
        return f"{self.scheme}://{self.host}/"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.root_path}{self.path}"

    @property
    def url(self) -> str:
        query = f"?{self.query_string}" if self.query_string else ""
        return f"{self.base_url}{query}"

    @property
    def is_json(self) -> bool:
        """Whether the body is JSON: ``application/json`` or ``*/*+json``; also a body opening
        with ``{`` or ``[`` sent with no type or as curl's default form type (``curl -d``).
        Any other type (``application/octet-stream``, ``text/plain``) is raw data, whatever
        its first byte."""
        media = self.content_type.split(";", 1)[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            return True
        if media in ("", "application/x-www-form-urlencoded"):
            return self.data.removeprefix(_BOM).lstrip()[:1] in (b"{", b"[")
        return False

    @_once
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON (see :attr:`is_json`)."""
        if not self.is_json or not self.data:
            return None
        try:
            return json.loads(self.data.removeprefix(_BOM))
        except ValueError:
            return None

    def get_json(self, silent: bool = True) -> Any:
        return self.json

    @_once
    def form(self) -> MultiDict:
        """The text fields of a URL-encoded or multipart body (a body labelled URL-encoded
        that is not text, as ``curl --data-binary @photo.jpg`` sends it, holds none)."""
        if self.form_pairs is not None:
            return MultiDict(self.form_pairs)
        if "application/x-www-form-urlencoded" not in self.content_type:
            return MultiDict()
        try:  # curl -d 'name=José' sends its UTF-8 as is
            return MultiDict(parse_query(self.data.decode()))
        except UnicodeDecodeError:
            return MultiDict()

    @_once
    def files(self) -> Files:
        """The file parts of a multipart body by field name: ``request.files["image"].data``."""
        return Files(self.file_parts)

    @_once
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except Exception:
            return {}
        return {k: m.value for k, m in jar.items()}

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self.data.decode("utf-8", "replace") if as_text else self.data

    def stream(self) -> Chunks:
        """The body as it arrives, for ``for`` or ``async for`` (see :mod:`owt.core.body`);
        a body read whole comes as one chunk."""
        from owt.core.body import Chunks

        return Chunks(None, self.data)

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the fields travel, as a tuple (derived attributes are rebuilt on the other
        # side): a frame to a worker is pickled and unpickled on every call.
        return (type(self), _request_fields(self.__dict__))


@dataclass
class Call:
    """One call of an adaptor: what to run, with what, and where.

    ``kwargs_expr`` is argument text to evaluate as a Python expression where the call runs
    (only ever set on an unlocked server). ``typed`` asks the runner to convert string
    arguments by the function's type hints (mounted and registered endpoints).
    """

    code: str
    sha256: str
    fn_name: str = "run"
    kwargs: dict[str, Any] = field(default_factory=dict)
    kwargs_expr: str | None = None
    request: Request = field(default_factory=Request)
    timeout: float | None = None
    env: str = "main"
    typed: bool = False
    filename: str | None = None
    server: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: Arguments that came from multipart file parts: passed when the function names them (or
    #: takes ``**kwargs``), else left to it in ``request.files``.
    file_args: tuple[str, ...] = ()
    #: The id of the request it answers: lines logged while it runs start with it.
    request_id: str = "-"
    #: Set where the call runs once it is given up on (its caller left, its timeout passed):
    #: code that waits on something else (an item in a ``@batch``) can stop waiting.
    given_up = False  # not a field: never sent anywhere

    def __reduce__(self) -> tuple[Any, ...]:
        return (Call, _call_fields(self.__dict__))

    def copy(self, request: Request, kwargs: dict[str, Any]) -> Call:
        """This call for another request and arguments (an endpoint's call, made once, is
        the template of each of its requests); its options are the copy's own."""
        call = Call.__new__(Call)
        call.__dict__.update(self.__dict__)
        call.request, call.kwargs, call.options = request, kwargs, dict(self.options)
        call.server = {}
        return call


_request_fields = operator.itemgetter(*(f.name for f in fields(Request)))
_call_fields = operator.itemgetter(*(f.name for f in fields(Call)))


@dataclass
class Response:
    """What an adaptor returns to set status and headers itself.

    ``body`` follows the same rules as a plain result: str, bytes, JSON-able values, or an
    iterator (sync or async) of chunks to stream.

    >>> Response("<b>hi</b>", 201, {"content-type": "text/html"}).status
    201
    """

    body: Any = b""
    status: int = 200
    headers: Mapping[str, str] | list[tuple[str, str]] | None = None


@dataclass
class Reply:
    """The normalised outcome of a call: a head, a first body part, and maybe more parts.

    ``stream`` is set only where the reply was made (a live iterator never crosses a process);
    executors hand the app an async iterator of the remaining chunks.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterator[bytes] | AsyncIterator[bytes] | None = None

    @property
    def streamed(self) -> bool:
        return self.stream is not None
