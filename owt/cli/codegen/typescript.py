"""TypeScript from the endpoints: a module over ``clients/js`` (the ``owt-client`` package).

    export async function generate(animal: "cat" | "dog"): Promise<Uint8Array>

An enum is a union of literal types (``"cat" | "dog"``, ``1 | 2``; written out in
parameters, named elsewhere); a record an interface; a parameter with a default is optional;
a streamed result an async generator of its chunks — of its items, decoded, where the server
streams them as JSON lines (numbers, lists, dicts, records).
``server.url`` and ``server.options`` (``token``, ``auth``, ``headers``) set where and how.

A ``bytes`` parameter takes a ``Uint8Array``: ``endpoint()`` of ``owt-client`` sends it as a
multipart file part, the other arguments as text fields. Names never clash: a function or
parameter named like an import or a local (``endpoint``, ``result``), or like another after
spelling, gets a suffix (``endpoint_``, ``myEndPoint_2``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from owt.cli.codegen.model import Field, Function, Module, Type, value_text
from owt.cli.codegen.naming import Names, words

__all__ = ["camel", "render", "ts_type"]

# fmt: off
RESERVED = frozenset([
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
    "do", "else", "enum", "export", "extends", "false", "finally", "for", "function", "if",
    "import", "in", "instanceof", "new", "null", "return", "super", "switch", "this", "throw",
    "true", "try", "typeof", "var", "void", "while", "with", "yield", "let", "static",
    "implements", "interface", "package", "private", "protected", "public", "await", "server",
])
# fmt: on
#: Values the module imports or reads: no function or parameter takes their names.
VALUES = ("endpoint", "endpointStream", "server", "undefined", "NaN", "Infinity", "eval")
#: Locals of a function's body, and globals it reads.
LOCALS = (
    "result", "chunk", "rest", "lines", "line", "arguments", "Number", "String", "JSON",
    "TextDecoder",
)  # fmt: skip
#: Types the module imports or reads: no interface or union takes their names.
TYPES = ("CallOptions", "Record", "Promise", "AsyncGenerator", "Uint8Array", "Array", "String")


def camel(name: str) -> str:
    parts = words(name, ascii=False) or ["value"]
    text = parts[0] + "".join(p.capitalize() for p in parts[1:])
    if text[0].isdigit():
        text = "_" + text
    return text + "_" if text in RESERVED else text


def ts_type(
    t: Type, *, inline: bool = False, result: bool = False, names: Mapping[str, str] | None = None
) -> str:
    simple = {"int": "number", "float": "number", "bool": "boolean", "str": "string"}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "bytes":  # endpoint() sends a Uint8Array argument as a file part
        return "Uint8Array"
    if t.kind == "none":
        return "void" if result else "null"
    if t.kind == "any":
        return "unknown"
    if t.kind == "json":
        return "Record<string, unknown>"
    if t.kind == "list":
        assert t.item is not None
        item = ts_type(t.item, inline=inline, names=names)
        return f"({item})[]" if "|" in item else f"{item}[]"
    if t.kind == "optional":
        assert t.item is not None
        return f"{ts_type(t.item, inline=inline, names=names)} | null"
    if t.kind == "enum" and inline:
        return " | ".join(json.dumps(v) for v in t.values)
    return (names or {}).get(t.name, t.name)


def _key(name: str) -> str:
    return name if name.isidentifier() else json.dumps(name)


def render(module: Module) -> str:
    types = Names([*RESERVED, *TYPES])
    names = {t.name: types.give(t.name) for t in module.types.values()}
    values = Names([*RESERVED, *VALUES])
    out = [
        f"// The endpoints of {module.url}, typed: written by `owt codegen --lang typescript`.",
        "// Run it again when they change.",
        'import { endpoint, endpointStream } from "owt-client";',
        'import type { CallOptions } from "owt-client";',
        "",
        "/** Where the endpoints are served, and options for every call (token, auth, ...). */",
        "export const server: { url: string; options: CallOptions } = {",
        f"  url: {json.dumps(module.url)},",
        "  options: {},",
        "};",
        "",
    ]
    for t in module.types.values():
        if t.kind == "enum":
            out += [f"export type {names[t.name]} = {ts_type(t, inline=True)};", ""]
        else:
            out += [f"export interface {names[t.name]} {{"]
            out += [_member(f, names) for f in t.fields]
            out += ["}", ""]
    for fn in module.functions:
        out += _function(fn, values.give(camel(fn.name)), names)
    return "\n".join(out)


def _member(f: Field, names: Mapping[str, str]) -> str:
    return f"  {_key(f.name)}{'' if f.required else '?'}: {ts_type(f.type, names=names)};"


def _convert(t: Type, names: Mapping[str, str]) -> str:
    """The decoded body (JSON, text or bytes, by content type) as the result's type."""
    item = t.item if t.kind == "optional" else None
    if item is not None and item.kind in ("int", "float", "str", "bool", "enum"):
        return f"result === null ? null : {_convert(item, names)}"  # None: no body, null
    if t.kind in ("int", "float"):
        return "Number(result)"
    if t.kind == "bool":
        return 'result === "True"'
    if t.kind == "str":
        return "String(result)"
    if t.kind == "none":
        return "undefined"
    hint = ts_type(t, result=True, names=names)
    if t.kind == "enum" and not t.textual:  # the server answers a value with its text
        # A None result is no body at all, which the JS client reads as null.
        texts = ", ".join(
            f"{json.dumps('null' if v is None else value_text(v))}: {json.dumps(v)}"
            for v in t.values
        )
        return f"({{ {texts} }} as Record<string, {hint}>)[String(result)]"
    return f"result as {hint}"


def _function(fn: Function, name: str, types: Mapping[str, str]) -> list[str]:
    ordered = sorted(fn.params, key=lambda p: not p.required)  # optional ones last
    scope = Names([*RESERVED, *VALUES, *LOCALS])
    names = {p.name: scope.give(camel(p.name)) for p in fn.params}
    params = ", ".join(
        f"{names[p.name]}{'' if p.required else '?'}: {ts_type(p.type, inline=True, names=types)}"
        for p in ordered
    )
    kwargs = "{ " + ", ".join(f"{_key(p.name)}: {names[p.name]}" for p in fn.params) + " }"
    if not fn.params:
        kwargs = "{}"
    url = f"server.url + {json.dumps(fn.path)}"
    doc = f"/** POST {fn.path}" + (f": {fn.summary}" if fn.summary else "") + " */"
    if fn.stream and fn.result.json_lines:
        return [doc, *_json_lines(fn, name, params, f"{url}, {kwargs}", types)]
    if fn.stream:
        item = "string" if fn.result.kind == "str" else "Uint8Array"
        if fn.result.kind not in ("str", "bytes"):
            item = "string | Uint8Array"
        return [
            doc,
            f"export async function* {name}({params}): AsyncGenerator<{item}> {{",
            f"  for await (const chunk of endpointStream({url}, {kwargs}, server.options)) {{",
            f"    yield chunk as {item};",
            "  }",
            "}",
            "",
        ]
    result = ts_type(fn.result, result=True, names=types)
    return [
        doc,
        f"export async function {name}({params}): Promise<{result}> {{",
        f"  const result: unknown = await endpoint({url}, {kwargs}, server.options);",
        f"  return {_convert(fn.result, types)};",
        "}",
        "",
    ]


def _json_lines(
    fn: Function, name: str, params: str, arguments: str, types: Mapping[str, str]
) -> list[str]:
    """A stream of JSON lines (NDJSON): each line's item, decoded, as its line completes."""
    item = ts_type(fn.result, result=True, names=types)
    return [
        f"export async function* {name}({params}): AsyncGenerator<{item}> {{",
        '  let rest = "";',
        f"  for await (const chunk of endpointStream({arguments}, server.options)) {{",
        '    const text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);',
        '    const lines = (rest + text).split("\\n");',
        '    rest = lines.pop() ?? "";',
        f"    for (const line of lines) if (line.trim()) yield JSON.parse(line) as {item};",
        "  }",
        f"  if (rest.trim()) yield JSON.parse(rest) as {item};",
        "}",
        "",
    ]
