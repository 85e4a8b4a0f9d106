"""Endpoints covering every hint ``owt codegen`` types: each function is registered by name."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypedDict


@dataclass
class Point:
    x: int
    y: int
    label: str = ""


class Info(TypedDict):
    name: str
    tags: list[str]
    size: Literal["small", "large"]
    ratio: float


def generate(animal: Literal["cat", "dog"]) -> bytes:
    return {"cat": b"\x89CAT\x00", "dog": b"\x89DOG\xff"}[animal]


def total(xs: list[int], start: int = 0) -> int:
    return start + sum(xs)


def scale(x: float, by: float = 2.0) -> float:
    return x * by


def shout(text: str, loud: bool = True) -> str:
    return text.upper() + "!" if loud else text


def is_even(n: int) -> bool:
    return n % 2 == 0


def point(x: int, y: int, label: str | None = None) -> Point:
    return Point(x, y, label or f"({x}, {y})")


def info(name: str, sizes: list[Literal["small", "large"]]) -> Info:
    return {"name": name, "tags": [name, *sizes], "size": sizes[0], "ratio": 0.5}


def pick(size: Literal["small", "large"] = "small") -> Literal["small", "large"]:
    return "large" if size == "small" else "small"


def count(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"{i};"


def nothing() -> None:
    return None


def size_of(data: bytes) -> int:
    return len(data)


def checksum(data: bytes, salt: bytes | None = None, label: str = "") -> str:
    """Bytes beside other parameters: file parts of a multipart body, the rest JSON."""
    return f"{label}{len(data)}:{sum(data) + sum(salt or b'')}"


def maybe_size(data: bytes | None) -> int:
    """A required parameter that may be None: the generated clients send it, null or bytes."""
    return -1 if data is None else len(data)


def distance(a: Point, b: Point | None = None) -> int:
    """Records as parameters: the generated clients send them as JSON objects."""
    b = b or Point(0, 0)
    return abs(a.x - b.x) + abs(a.y - b.y)


def walk(n: int) -> Iterator[Point]:
    """Records streamed: the server sends each as a JSON line, the clients give it decoded."""
    for i in range(n):
        yield Point(i, -i)


def level(level: Literal[1, 2, 3] = 1) -> Literal[1, 2, 3]:
    """Numbers as a Literal: sent as numbers, read back from the result's text."""
    return 1 if level == 3 else 2 if level == 1 else 3


def workers(workers: Literal[0, "auto", True]) -> Literal[0, "auto", True]:
    """A Literal of mixed values: each sent as itself, read back from the result's text."""
    return "auto" if workers == 0 else True if workers == "auto" else 0


def maybe_flag(x: int = 0) -> bool | None:
    """A result that may be None: its text when it is a value, no body when it is None."""
    return x > 0 if x else None


def maybe_half(x: int = 0) -> float | None:
    return x / 2 if x else None
