"""Haskell from the endpoints: a module over ``clients/haskell``'s ``Owt``.

    generate :: OwtClient -> Animal -> IO ByteString

An enum (``Literal["cat", "dog"]``) is a sum type with JSON instances; a record (a dataclass
or TypedDict) a Haskell record whose fields carry its name (``pointX``); a parameter with a
default is a ``Maybe``; a streamed result takes a callback per chunk.
"""

from __future__ import annotations

from owt.cli.codegen.model import Field, Function, Module, Type, words

__all__ = ["hs_type", "lower_camel", "render", "upper_camel"]

# fmt: off
KEYWORDS = frozenset([
    "case", "class", "data", "default", "deriving", "do", "else", "foreign", "if", "import",
    "in", "infix", "infixl", "infixr", "instance", "let", "module", "newtype", "of", "then",
    "type", "where", "forall", "mdo", "rec", "proc", "client",
])
# fmt: on


def lower_camel(name: str) -> str:
    parts = words(name) or ["value"]
    text = parts[0] + "".join(p.capitalize() for p in parts[1:])
    if text[0].isdigit():
        text = "x" + text
    return text + "'" if text in KEYWORDS else text


def upper_camel(name: str) -> str:
    text = "".join(p.capitalize() for p in words(name))
    return text


def hs_type(t: Type, *, result: bool = False) -> str:
    simple = {"int": "Int", "float": "Double", "bool": "Bool", "str": "Text", "none": "()"}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "bytes":
        return "BS.ByteString" if result else "Text"
    if t.kind in ("any", "json"):
        return "BS.ByteString" if result and t.kind == "any" else "Value"
    if t.kind == "list":
        assert t.item is not None
        return f"[{hs_type(t.item)}]"
    if t.kind == "optional":
        assert t.item is not None
        return f"Maybe {_atom(hs_type(t.item))}"
    return t.name


def _atom(text: str) -> str:
    return f"({text})" if " " in text and not text.startswith("[") else text


def _field_type(f: Field) -> str:
    """A field or parameter that may be left out is a Maybe (once)."""
    if f.required:
        return hs_type(f.type)
    inner = f.type.item if f.type.kind == "optional" and f.type.item else f.type
    return f"Maybe {_atom(hs_type(inner))}"


def _pairs(fields: tuple[Field, ...], value: dict[str, str]) -> str:
    """``catMaybes [Just ("a" .= a), ("b" .=) <$> b]``: left-out fields are not sent."""
    items = [
        f'Just ("{f.name}" .= {value[f.name]})'
        if f.required
        else f'("{f.name}" .=) <$> {value[f.name]}'
        for f in fields
    ]
    return "catMaybes [" + ", ".join(items) + "]"


def render(module: Module, module_name: str = "OwtEndpoints") -> str:
    constructors: set[str] = {t.name for t in module.types.values() if t.kind == "record"}
    out = [
        "{-# LANGUAGE OverloadedStrings #-}",
        "{-# LANGUAGE TypeApplications #-}",
        f"-- | The endpoints of {module.url}, typed: written by @owt codegen --lang haskell@.",
        "-- Run it again when they change. Build with clients/haskell/src on the -i path.",
        f"module {module_name} where",
        "",
        "import Data.Aeson",
        "import qualified Data.ByteString as BS",
        "import Data.Maybe (catMaybes)",
        "import Data.Text (Text)",
        "import Owt",
        "",
    ]
    for t in module.types.values():
        out += _enum(t, constructors) if t.kind == "enum" else _record(t)
    for fn in module.functions:
        out += _function(fn)
    return "\n".join(out)


def _enum(t: Type, constructors: set[str]) -> list[str]:
    names = []
    for value in t.values:
        name = upper_camel(value)
        if not name or name[0].isdigit() or name in constructors or name in names:
            name = t.name + (name or "Empty")
        names.append(name)
    constructors.update(names)
    pairs = list(zip(names, t.values, strict=True))
    return [
        f"data {t.name} = " + " | ".join(names),
        "  deriving (Eq, Ord, Show, Read, Enum, Bounded)",
        "",
        f"instance ToJSON {t.name} where",
        "  toJSON x = case x of",
        *[f"    {n} -> String {_string(v)}" for n, v in pairs],
        "",
        f"instance FromJSON {t.name} where",
        f'  parseJSON = withText "{t.name}" $ \\t -> case t of',
        *[f"    {_string(v)} -> pure {n}" for n, v in pairs],
        f'    _ -> fail ("unexpected {t.name}: " ++ show t)',
        "",
    ]


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _record(t: Type) -> list[str]:
    prefix = t.name[0].lower() + t.name[1:]
    names = {f.name: prefix + upper_camel(f.name) for f in t.fields}
    if not t.fields:
        return [f"data {t.name} = {t.name} deriving (Eq, Show)", ""]
    lines = [f"data {t.name} = {t.name}"]
    for i, f in enumerate(t.fields):
        lines.append(f"  {'{' if i == 0 else ','} {names[f.name]} :: {_field_type(f)}")
    lines += ["  }", "  deriving (Eq, Show)", ""]
    lines += [f"instance FromJSON {t.name} where"]
    lines += [f'  parseJSON = withObject "{t.name}" $ \\o -> {t.name}']
    for i, f in enumerate(t.fields):
        lines.append(
            f'    {"<$>" if i == 0 else "<*>"} o {".:" if f.required else ".:?"} "{f.name}"'
        )
    values = {f.name: f"({names[f.name]} r)" for f in t.fields}
    lines += ["", f"instance ToJSON {t.name} where"]
    lines += [f"  toJSON r = object ({_pairs(t.fields, values)})", ""]
    return lines


def _result_reader(t: Type) -> str:
    if t.kind == "bytes" or t.kind == "any":
        return "pure"
    if t.kind == "str":
        return "textBody"
    if t.kind == "bool":
        return "boolBody"
    if t.kind == "none":
        return "unitBody"
    if t.kind == "enum":
        return "stringBody"
    return "jsonBody"


def _function(fn: Function) -> list[str]:
    name = lower_camel(fn.name)
    args = {p.name: lower_camel(p.name) for p in fn.params}
    body = f"(object ({_pairs(fn.params, args)}))"
    types = ["OwtClient", *(_field_type(p) for p in fn.params)]
    values = " ".join(args[p.name] for p in fn.params)
    head = f"{name} client {values}".replace("  ", " ").rstrip()
    lines = [f"-- | POST {fn.path}" + (f": {fn.summary}" if fn.summary else "")]
    if fn.stream:
        types += ["(BS.ByteString -> IO ())", "IO ()"]
        lines += [f"{name} :: " + " -> ".join(types)]
        lines += [f'{head} onChunk = owtStreamAt @POST "{fn.path}" {body} onChunk client', ""]
        return lines
    types.append(f"IO {_atom(hs_type(fn.result, result=True))}")
    lines += [f"{name} :: " + " -> ".join(types)]
    reader = _result_reader(fn.result)
    then = "" if reader == "pure" else f" >>= {reader}"
    lines += [f'{head} = owtAt @POST "{fn.path}" {body} client{then}', ""]
    return lines
