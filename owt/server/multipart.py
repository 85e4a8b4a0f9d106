"""``multipart/form-data`` bodies: text fields and file parts, read with ``python-multipart``.

    curl -F name=owt -F times=2 http://127.0.0.1:9876/greet
    curl -F image=@cat.png http://127.0.0.1:9876/size

A part with a ``filename`` in its ``Content-Disposition`` is a file part (a
:class:`~owt.core.call.FilePart`: name, file name, content type, bytes); any other part is a
text field (UTF-8). The body is already bounded by ``--max-body-bytes`` when it gets here.
"""

from __future__ import annotations

from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from owt.core.call import FilePart
from owt.core.errors import BadRequest

__all__ = ["is_multipart", "parse_multipart"]

MAX_PARTS = 1000  # a body of many tiny parts costs far more to hold than its size says


def is_multipart(content_type: str) -> bool:
    return content_type[:19].lower() == "multipart/form-data"


def parse_multipart(content_type: str, body: bytes) -> tuple[list[tuple[str, str]], list[FilePart]]:
    """The text fields and file parts of a multipart body; ``BadRequest`` when it is broken."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("a multipart body needs a boundary in its Content-Type", field="body")
    reader = _Reader()
    try:
        parser = MultipartParser(boundary, reader.callbacks())
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise BadRequest(f"the multipart body is broken: {exc}", field="body")
    if not reader.ended:
        raise BadRequest("the multipart body ends before its closing boundary", field="body")
    return reader.fields, reader.files


class _Reader:
    """Collects the parts as the parser calls back."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []
        self.files: list[FilePart] = []
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._data: list[bytes] = []
        self._count = 0

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self._count += 1
        if self._count > MAX_PARTS:
            raise BadRequest(f"the multipart body has more than {MAX_PARTS} parts", field="body")
        self._headers, self._name, self._value, self._data = {}, b"", b"", []

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data.append(data[start:end])

    def _part_end(self) -> None:
        _, disposition = parse_options_header(self._headers.get(b"content-disposition"))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        data = b"".join(self._data)
        if b"filename" in disposition:
            filename = disposition[b"filename"].decode("utf-8", "replace")
            kind = self._headers.get(b"content-type", b"application/octet-stream")
            self.files.append(FilePart(name, filename, kind.decode("latin-1").strip(), data))
        else:
            self.fields.append((name, data.decode("utf-8", "replace")))

    def _end(self) -> None:
        self.ended = True
