"""Array results as ``.npy`` bytes, for a caller that sends ``Accept: application/x-npy``.

An adaptor that returns an embedding (a list of floats, a list of equal lists, a numpy array)
answers JSON by default; a caller that asks for ``application/x-npy`` gets the same numbers as
a NumPy ``.npy`` file instead: a short header (dtype, shape) and the raw little-endian values,
an eighth of the size of their JSON text and read without parsing::

    numpy.load(io.BytesIO(response.content))

The format (version 1.0) is written here for lists, so the stdlib-only runner needs no
numpy; a numpy array, where numpy is installed, keeps its own dtype. A result that is no
array (a dict, a ragged list, strings) is answered as JSON, as if nothing had been asked.
Stdlib only.
"""

from __future__ import annotations

import array
import sys
from typing import Any

__all__ = ["NPY", "accepts_npy", "is_ndarray", "npy_bytes"]

NPY = "application/x-npy"
_MAGIC = b"\x93NUMPY\x01\x00"
_ALIGN = 64
_EXACT_IN_FLOAT = 2**53  # the largest integer every float64 up to it holds exactly


def accepts_npy(accept: str) -> bool:
    """Whether an ``Accept`` header prefers ``.npy`` to JSON: it names ``application/x-npy``
    with a ``q`` above 0 and at least that of ``application/json`` (when it names that)."""
    accept = accept.lower()
    if NPY not in accept:
        return False
    npy = json = 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media not in (NPY, "application/json"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == NPY:
            npy = max(npy, q)
        else:
            json = max(json, q)
    return npy > 0 and npy >= json


def npy_bytes(value: Any) -> bytes | None:
    """``value`` as a ``.npy`` file, or None when it is not a rectangular array of numbers
    (or holds an integer that ``.npy`` would not keep exactly: JSON does)."""
    if is_ndarray(value):
        return _from_ndarray(value)
    if not isinstance(value, (list, tuple)):
        return None
    shape, flat = _shape_and_items(value)
    if shape is None:
        return None
    if all(type(v) is bool for v in flat) and flat:
        return _file("|b1", shape, bytes(bytearray(flat)))
    if all(type(v) is int for v in flat) and flat:
        try:
            values = array.array("q", flat)
        except OverflowError:  # past 64 bits: JSON keeps them exact, .npy could not
            return None
        return _file("<i8", shape, _little(values))
    if any(type(v) is int and abs(v) > _EXACT_IN_FLOAT for v in flat):
        return None  # a float64 would round it: JSON keeps it exact
    return _file("<f8", shape, _little(array.array("d", (float(v) for v in flat))))


def _shape_and_items(
    value: list[Any] | tuple[Any, ...],
) -> tuple[tuple[int, ...] | None, list[Any]]:
    """The shape of nested equal-length lists of numbers, and their values in C order."""
    if all(_is_number(v) for v in value):
        return (len(value),), list(value)
    if not value or not all(isinstance(v, (list, tuple)) for v in value):
        return None, []
    rows = [_shape_and_items(v) for v in value]
    first = rows[0][0]
    if first is None or any(shape != first for shape, _ in rows):
        return None, []
    return (len(value), *first), [item for _, items in rows for item in items]


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, bool)


def _little(values: array.array[Any]) -> bytes:
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def is_ndarray(value: Any) -> bool:
    """Whether ``value`` is a numpy array (without importing numpy)."""
    kind = type(value)
    return kind.__name__ == "ndarray" and kind.__module__.startswith("numpy")


def _from_ndarray(value: Any) -> bytes | None:
    dtype = value.dtype
    if dtype.hasobject or dtype.names is not None:
        return None  # object or structured arrays do not travel as plain values
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big"):
        value = value.astype(dtype.newbyteorder("<"))
        dtype = value.dtype
    return _file(dtype.str, tuple(int(n) for n in value.shape), value.tobytes(order="C"))


def _file(descr: str, shape: tuple[int, ...], data: bytes) -> bytes:
    dims = "(" + "".join(f"{n}, " for n in shape).rstrip(" ") + ")" if shape else "()"
    if len(shape) > 1:
        dims = "(" + ", ".join(str(n) for n in shape) + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}"
    size = len(_MAGIC) + 2 + len(header) + 1
    header += " " * (-size % _ALIGN) + "\n"
    return _MAGIC + len(header).to_bytes(2, "little") + header.encode("latin-1") + data
