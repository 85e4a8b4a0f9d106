"""Python from the endpoints: a typed module over ``owt.client``.

    def generate(client: Client, animal: Animal) -> bytes

An enum is a ``Literal`` alias, a record a ``TypedDict`` (the JSON object as it comes), a
parameter with a default is a keyword with default ``None`` (left out of the call), and a
streamed result an iterator of its chunks.
"""

from __future__ import annotations

import keyword

from owt.cli.codegen.model import Field, Function, Module, Type, words

__all__ = ["py_type", "render", "snake"]


def snake(name: str) -> str:
    text = "_".join(words(name)) or "value"
    if text[0].isdigit():
        text = "_" + text
    return text + "_" if keyword.iskeyword(text) or text == "client" else text


def py_type(t: Type, *, result: bool = False) -> str:
    simple = {"int": "int", "float": "float", "bool": "bool", "str": "str", "none": "None"}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "bytes":  # a bytes parameter takes text in a JSON body (its UTF-8 bytes)
        return "bytes" if result else "str"
    if t.kind == "any":
        return "Any"
    if t.kind == "json":
        return "dict[str, Any]"
    if t.kind == "list":
        assert t.item is not None
        return f"list[{py_type(t.item)}]"
    if t.kind == "optional":
        assert t.item is not None
        return f"{py_type(t.item)} | None"
    return t.name


def render(module: Module) -> str:
    out = [
        f'"""The endpoints of {module.url}, typed: written by ``owt codegen --lang python``.',
        "",
        "Run it again when they change. Each function takes an ``owt.client.Client``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Iterator",
        "from typing import Any, Literal, NotRequired, TypedDict, cast",
        "",
        "from owt.client import Client",
        "",
        f"URL = {module.url!r}",
        "",
    ]
    for t in module.types.values():
        if t.kind == "enum":
            out += [f"{t.name} = Literal[{', '.join(repr(v) for v in t.values)}]", ""]
        else:
            out += ["", f"class {t.name}(TypedDict):"]
            out += [_member(f) for f in t.fields] or ["    pass"]
            out += [""]
    for fn in module.functions:
        out += ["", *_function(fn)]
    return "\n".join(out)


def _without_none(t: Type) -> Type:
    return t.item if t.kind == "optional" and t.item is not None else t


def _member(f: Field) -> str:
    hint = py_type(f.type)
    return f"    {f.name}: {hint if f.required else f'NotRequired[{hint}]'}"


def _convert(t: Type) -> str:
    """The decoded body (JSON, text or bytes, by content type) as the result's type."""
    if t.kind in ("int", "float", "str"):
        return f"{t.kind}(result)"
    if t.kind == "bool":
        return 'bool(result == "True")'
    if t.kind == "none":
        return "None"
    return f"cast({py_type(t, result=True)!r}, result)"


def _function(fn: Function) -> list[str]:
    names = {p.name: snake(p.name) for p in fn.params}
    required = [f"{names[p.name]}: {py_type(p.type)}" for p in fn.params if p.required]
    optional = [
        f"{names[p.name]}: {py_type(_without_none(p.type))} | None = None"
        for p in fn.params
        if not p.required
    ]
    params = ", ".join(["client: Client", *required, *(["*", *optional] if optional else [])])
    given = ", ".join(f"{p.name!r}: {names[p.name]}" for p in fn.params)
    doc = f'    """POST {fn.path}' + (f": {fn.summary}" if fn.summary else "") + '"""'
    lines = [f"    kwargs: dict[str, Any] = {{{given}}}"]
    lines += ["    kwargs = {k: v for k, v in kwargs.items() if v is not None}"]
    name = snake(fn.name)
    endpoint = f"client.endpoint({fn.path.lstrip('/')!r})"
    if fn.stream:
        item = {"str": "str", "bytes": "bytes"}.get(fn.result.kind, "str | bytes")
        return [
            f"def {name}({params}) -> Iterator[{item}]:",
            doc,
            *lines,
            f"    for chunk in {endpoint}.stream(**kwargs):",
            f"        yield cast({item!r}, chunk)",
            "",
        ]
    return [
        f"def {name}({params}) -> {py_type(fn.result, result=True)}:",
        doc,
        *lines,
        f"    result = {endpoint}(**kwargs)",
        f"    return {_convert(fn.result)}",
        "",
    ]
