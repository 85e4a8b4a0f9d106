"""A typed endpoint: mount the file, then call it like any web API with plain parameters.

    owt serve --mount greet=example/endpoints/greet.py
    curl 'localhost:9876/greet?name=owt&times=2&style=shout'

The type hints convert the text of the query (``times=2`` → ``2``); a value that does not fit
answers 400 naming the parameter. Edit this file while the server runs: the next call sees it.
"""

from typing import Literal


def run(
    name: str,
    times: int = 1,
    style: Literal["plain", "shout"] = "plain",
    tag: list[str] | None = None,
) -> str:
    line = f"Hello, {name}!"
    if style == "shout":
        line = line.upper()
    tags = "".join(f" #{t}" for t in tag or [])
    return "\n".join([line] * times) + tags + "\n"
