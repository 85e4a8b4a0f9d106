"""Endpoints whose names, parameters and values clash with what generated code imports, with
its locals or with each other; each function is registered under the names in the test."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal


def echo(endpoint: str, result: int, client: str = "c", server: str = "s") -> str:
    """Parameters named like the generated code's imports and locals."""
    return f"{endpoint}/{result}/{client}/{server}"


def one() -> str:
    return "one"


def two() -> str:
    return "two"


def mood(
    m: Literal["Left", "Right", "Error", "Null", "String", "show", "😀", "ü", "IO", "Just"],
) -> Literal["Left", "Right", "Error", "Null", "String", "show", "😀", "ü", "IO", "Just"]:
    return m


def fielded(timeout: int, env: str, fn_name: str = "f", requirements: int | None = None) -> str:
    """Arguments named like call fields: they travel in ``kwargs``."""
    return f"{timeout}/{env}/{fn_name}/{requirements}"


def maybe(x: int | None, label: str | None = "default", n: int = 3) -> str:
    """A required Optional and an optional whose default is not None."""
    return f"{x}/{label}/{n}"


def größe(größe: int, maße: str = "m") -> str:
    return f"{größe}{maße}"


def blob(data: bytes, extra: bytes | None = None, tag: str = "t") -> int:
    return len(data) * 1000 + (len(extra) if extra is not None else 7) * 10 + len(tag)


def chunks(n: int) -> Iterator[dict[str, int]]:
    for i in range(n):
        yield {"i": i}


@dataclass
class Value:
    """A record named like Data.Aeson's Value, with fields named like functions."""

    text: str
    object: int


def wrap(v: Value) -> Value:
    return Value(v.text + "!", v.object + 1)
