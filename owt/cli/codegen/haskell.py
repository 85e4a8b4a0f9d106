"""Haskell from the endpoints: a module over ``clients/haskell``'s ``Owt``.

    generate :: OwtClient -> Animal -> IO ByteString

An enum (``Literal["cat", "dog"]``, ``Literal[1, 2]``, mixed) is a sum type with JSON
instances; a record (a dataclass or TypedDict) a Haskell record whose fields carry its name
(``pointX``); a parameter with a default is a ``Maybe``; a streamed result takes a callback
per chunk — per item, decoded, where the server streams its items as JSON lines (numbers,
lists, dicts, records). A ``bytes`` parameter takes a ``ByteString``, sent as a file part of
a multipart body (``owtFilesAt``); bytes inside a list or a record take ``Text`` (their
UTF-8 bytes), since they travel as JSON.

Names never clash: the module imports ``Data.Aeson``, ``Data.Maybe`` and most of ``Owt``
qualified, and a name like one of the Prelude's, ``Data.Aeson``'s or ``Owt``'s (which the
user's module imports beside it) or like another gets the type's name before it (a
constructor: ``MoodLeft``), a prime (``show'``) or a number (``myEndPoint_2``). A name not
in ASCII is spelled in it (``größe`` → ``grosse``, ``😀`` → ``GrinningFace``). Locals of the
generated code end in ``_``, which no generated name does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from owt.cli.codegen.haskell_names import KEYWORDS, LOWER, UPPER
from owt.cli.codegen.model import Field, Function, Module, Scalar, Type, value_text
from owt.cli.codegen.naming import Names, words

__all__ = ["hs_type", "lower_camel", "render", "upper_camel"]

#: The parameters every generated function has besides the endpoint's.
OWN = ("client", "onChunk", "onItem")


def lower_camel(name: str) -> str:
    parts = words(name) or ["value"]
    text = parts[0] + "".join(p.capitalize() for p in parts[1:])
    if text[0].isdigit():
        text = "x" + text
    return text + "'" if text in KEYWORDS or text in OWN else text


def upper_camel(name: str) -> str:
    text = "".join(p.capitalize() for p in words(name))
    return text


def hs_type(t: Type, *, result: bool = False, names: Mapping[str, str] | None = None) -> str:
    simple = {"int": "Int", "float": "Double", "bool": "Bool", "str": "Text", "none": "()"}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "bytes":  # inside JSON (a list, a record): text; a parameter: see _is_file
        return "BS.ByteString" if result else "Text"
    if t.kind in ("any", "json"):
        return "BS.ByteString" if result and t.kind == "any" else "Value"
    if t.kind == "list":
        assert t.item is not None
        return f"[{hs_type(t.item, names=names)}]"
    if t.kind == "optional":
        assert t.item is not None
        return f"Maybe {_atom(hs_type(t.item, names=names))}"
    return (names or {}).get(t.name, t.name)


def _atom(text: str) -> str:
    return f"({text})" if " " in text and not text.startswith("[") else text


def _field_type(f: Field, names: Mapping[str, str]) -> str:
    """A field or parameter that may be left out is a Maybe (once)."""
    if f.required:
        return hs_type(f.type, names=names)
    inner = f.type.item if f.type.kind == "optional" and f.type.item else f.type
    return f"Maybe {_atom(hs_type(inner, names=names))}"


def _pairs(fields: tuple[Field, ...], value: dict[str, str]) -> str:
    """``M.catMaybes [Just ("a" .= a), ("b" .=) <$> b]``: left-out fields are not sent. A
    required file that may be Nothing goes as a JSON null when it is (as a file part when not)."""
    items = []
    for f in fields:
        name, v = _string(f.name), value[f.name]
        if _is_file(f):
            items.append(f"maybe (Just ({name} .= A.Null)) (const Nothing) {v}")
        elif f.required:
            items.append(f"Just ({name} .= {v})")
        else:
            items.append(f"({name} .=) <$> {v}")
    return "M.catMaybes [" + ", ".join(items) + "]"


class _Scope:
    """The module's names: types and constructors (``upper``), functions and record fields
    (``lower``), each Haskell name by what it names."""

    def __init__(self, module: Module) -> None:
        self.upper = Names([*UPPER, *KEYWORDS], mark="'")
        self.lower = Names([*LOWER, *KEYWORDS, *OWN], mark="'")
        # Types first: a constructor gives way to a type of its name, never the other way.
        self.types = {t.name: self.upper.give(t.name) for t in module.types.values()}
        self.constructors: dict[str, list[str]] = {}
        self.fields: dict[str, dict[str, str]] = {}
        for t in module.types.values():
            if t.kind == "enum":
                self.constructors[t.name] = [self._constructor(t, v) for v in t.values]
            else:
                prefix = lower_camel(self.types[t.name]).rstrip("'")
                self.fields[t.name] = {
                    f.name: self.lower.give(prefix + upper_camel(f.name)) for f in t.fields
                }
        self.functions = [self.lower.give(lower_camel(fn.name)) for fn in module.functions]

    def _constructor(self, t: Type, value: Scalar) -> str:
        name = upper_camel(_spelled(value))
        if not name or name[0].isdigit() or name in self.upper.reserved:
            name = self.types[t.name] + (name or "Empty")
        elif self.upper.same(name) in self.upper.taken:
            name = self.types[t.name] + name
        return self.upper.give(name)

    def parameters(self, fn: Function) -> dict[str, str]:
        """Parameters shadow no top-level name (``-Wname-shadowing``) nor each other."""
        scope = Names([*self.lower.reserved, *self.lower.taken], mark="'")
        return {p.name: scope.give(lower_camel(p.name)) for p in fn.params}


def _spelled(value: Scalar) -> str:
    """A Literal's value as words for a constructor's name (``-1.5`` → ``minus 1 point 5``)."""
    if isinstance(value, str):
        return value
    return repr(value).replace("-", "minus ").replace(".", " point ")


def render(module: Module, module_name: str = "OwtEndpoints") -> str:
    scope = _Scope(module)
    out = [
        "{-# LANGUAGE OverloadedStrings #-}",
        "{-# LANGUAGE TypeApplications #-}",
        f"-- | The endpoints of {module.url}, typed: written by @owt codegen --lang haskell@.",
        "-- Run it again when they change. Build with clients/haskell/src on the -i path.",
        f"module {module_name} where",
        "",
    ]
    code: list[str] = []
    for t in module.types.values():
        code += _enum(t, scope) if t.kind == "enum" else _record(t, scope)
    for fn, name in zip(module.functions, scope.functions, strict=True):
        code += _function(fn, name, scope)
    if any(fn.stream and fn.result.json_lines for fn in module.functions):
        code += JSON_LINES
    return "\n".join([*out, *_imports("\n".join(code)), "", *code])


#: Each import, and what in the code needs it (-Wall warns of one not needed).
_IMPORTS = [
    ("import Data.Aeson (Value)", r"Value(?![\w'])"),
    ("import qualified Data.Aeson as A", r"A\.\w"),
    ("import qualified Data.ByteString as BS", r"BS\.\w"),
    ("import Data.IORef (newIORef, readIORef, writeIORef)", r"newIORef"),
    ("import qualified Data.Maybe as M", r"M\.\w"),
    ("import Data.Text (Text)", r"Text(?![\w'])"),
    ("import Owt (OwtClient)", r"OwtClient(?![\w'])"),
    ("import qualified Owt as O", r"O\.\w"),
]


def _imports(code: str) -> list[str]:
    # Not what string literals or comments hold.
    bare = re.sub(r"--.*", "", re.sub(r'"(\\.|[^"\\])*"', '""', code))
    lines = [line for line, use in _IMPORTS if re.search(rf"(?<![\w'.])(?:{use})", bare)]
    operators = [f"({op})" for op in (".:", ".:?", ".=") if f" {op} " in bare or f" {op})" in bare]
    if operators:
        lines.insert(1, f"import Data.Aeson ({', '.join(operators)})")
    return lines


def _enum(t: Type, scope: _Scope) -> list[str]:
    name = scope.types[t.name]
    pairs = list(zip(scope.constructors[t.name], t.values, strict=True))
    lines = [
        f"data {name} = " + " | ".join(scope.constructors[t.name]),
        "  deriving (Eq, Ord, Show, Read, Enum, Bounded)",
        "",
        f"instance A.ToJSON {name} where",
        "  toJSON x_ = case x_ of",
        *[f"    {n} -> {_json_value(v)}" for n, v in pairs],
        "",
        f"instance A.FromJSON {name} where",
    ]
    if t.textual:
        lines += [
            f"  parseJSON = A.withText {_string(name)} $ \\t_ -> case t_ of",
            *[f"    {_string(str(v))} -> pure {n}" for n, v in pairs],
            f'    _ -> fail ("unexpected {name}: " ++ show t_)',
            "",
        ]
        return lines
    # A value in JSON, or as the text the server answers a result with ("1", "True").
    patterns: dict[str, str] = {}
    for n, v in pairs:
        patterns.setdefault(_json_value(v), n)
    for n, v in pairs:
        text = value_text(v)
        if text is not None:
            patterns.setdefault(f"A.String {_string(text)}", n)
    return [
        *lines,
        "  parseJSON v_ = case v_ of",
        *[f"    {pattern} -> pure {n}" for pattern, n in patterns.items()],
        f'    _ -> fail ("unexpected {name}: " ++ show v_)',
        "",
    ]


def _json_value(value: Scalar) -> str:
    """A Literal's value as an aeson ``Value`` (an expression, and a pattern)."""
    if value is None:
        return "A.Null"
    if isinstance(value, bool):
        return f"A.Bool {value}"
    if isinstance(value, str):
        return f"A.String {_string(value)}"
    return f"A.Number ({value!r})" if value < 0 else f"A.Number {value!r}"


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _record(t: Type, scope: _Scope) -> list[str]:
    name, names = scope.types[t.name], scope.fields[t.name]
    if not t.fields:
        return [f"data {name} = {name} deriving (Eq, Show)", ""]
    lines = [f"data {name} = {name}"]
    for i, f in enumerate(t.fields):
        lines.append(f"  {'{' if i == 0 else ','} {names[f.name]} :: {_field_type(f, scope.types)}")
    lines += ["  }", "  deriving (Eq, Show)", ""]
    lines += [f"instance A.FromJSON {name} where"]
    lines += [f"  parseJSON = A.withObject {_string(name)} $ \\o_ -> {name}"]
    for i, f in enumerate(t.fields):
        get = ".:" if f.required else ".:?"
        lines.append(f"    {'<$>' if i == 0 else '<*>'} o_ {get} {_string(f.name)}")
    values = {f.name: f"({names[f.name]} r_)" for f in t.fields}
    lines += ["", f"instance A.ToJSON {name} where"]
    lines += [f"  toJSON r_ = A.object ({_pairs(t.fields, values)})", ""]
    return lines


def _result_reader(t: Type) -> str:
    if t.kind == "optional" and t.item is not None:  # None is no body at all
        return f"O.maybeBody {_result_reader(t.item)}"
    if t.kind == "bytes" or t.kind == "any":
        return "pure"
    if t.kind == "str":
        return "O.textBody"
    if t.kind == "bool":
        return "O.boolBody"
    if t.kind == "none":
        return "O.unitBody"
    if t.kind == "enum":
        return "O.stringBody"
    return "O.jsonBody"


def _is_file(p: Field) -> bool:
    """A ``bytes`` parameter (or an optional one): a file part, not JSON."""
    t = p.type.item if p.type.kind == "optional" and p.type.item else p.type
    return t.kind == "bytes"


def _always(p: Field) -> bool:
    """A file parameter that always has bytes (not a Maybe)."""
    return p.required and p.type.kind == "bytes"


def _param_type(p: Field, names: Mapping[str, str]) -> str:
    if not _is_file(p):
        return _field_type(p, names)
    return "BS.ByteString" if _always(p) else "Maybe BS.ByteString"


def _files(files: list[Field], value: dict[str, str]) -> str:
    """``M.catMaybes [Just ("a", a), (,) "b" <$> b]``: the file parts, left-out ones not sent."""
    items = [
        f"Just ({_string(p.name)}, {value[p.name]})"
        if _always(p)
        else f"(,) {_string(p.name)} <$> {value[p.name]}"
        for p in files
    ]
    return "(M.catMaybes [" + ", ".join(items) + "])"


def _function(fn: Function, name: str, scope: _Scope) -> list[str]:
    args = scope.parameters(fn)
    files = [p for p in fn.params if _is_file(p)]
    json = tuple(p for p in fn.params if not _is_file(p) or (p.required and not _always(p)))
    body = f"(A.object ({_pairs(json, args)}))"
    types = ["OwtClient", *(_param_type(p, scope.types) for p in fn.params)]
    values = " ".join(args[p.name] for p in fn.params)
    head = f"{name} client {values}".replace("  ", " ").rstrip()
    path = _string(fn.path)
    # Bytes go as file parts of a multipart body; everything else as JSON.
    at, stream_at = ("owtFilesAt", "owtStreamFilesAt") if files else ("owtAt", "owtStreamAt")
    method = "" if files else " @O.POST"
    if files:
        body += " " + _files(files, args)
    lines = [f"-- | POST {fn.path}" + (f": {fn.summary}" if fn.summary else "")]
    if fn.stream and fn.result.json_lines:  # a callback per item, decoded from its line
        item = _atom(hs_type(fn.result, names=scope.types))
        types += [f"({item} -> IO ())", "IO ()"]
        lines += [f"{name} :: " + " -> ".join(types)]
        call = f"O.{stream_at}{method} {path} {body} chunk_ client"
        lines += [f"{head} onItem = jsonLines_ onItem (\\chunk_ -> {call})", ""]
        return lines
    if fn.stream:
        types += ["(BS.ByteString -> IO ())", "IO ()"]
        lines += [f"{name} :: " + " -> ".join(types)]
        lines += [f"{head} onChunk = O.{stream_at}{method} {path} {body} onChunk client", ""]
        return lines
    types.append(f"IO {_atom(hs_type(fn.result, result=True, names=scope.types))}")
    lines += [f"{name} :: " + " -> ".join(types)]
    reader = _result_reader(fn.result)
    then = "" if reader == "pure" else f" >>= {reader}"
    lines += [f"{head} = O.{at}{method} {path} {body} client{then}", ""]
    return lines


#: Reads a stream of JSON lines (NDJSON), which chunks may split anywhere: each line's item,
#: decoded (a line that is not the JSON expected throws ``bad_result``), to the callback.
JSON_LINES = [
    "-- | Each line of a streamed NDJSON body, decoded, to @onItem_@.",
    "jsonLines_ :: A.FromJSON a => (a -> IO ()) -> ((BS.ByteString -> IO ()) -> IO ()) -> IO ()",
    "jsonLines_ onItem_ stream_ = do",
    "  rest_ <- newIORef BS.empty",
    "  let item_ line_ = if BS.all (`elem` [9, 10, 13, 32]) line_",
    "        then pure ()",
    "        else O.jsonBody line_ >>= onItem_",
    "  stream_ $ \\chunk_ -> do",
    "    pending_ <- readIORef rest_",
    "    let (lines_, partial_) = BS.spanEnd (/= 10) (pending_ <> chunk_)",
    "    writeIORef rest_ partial_",
    "    mapM_ item_ (BS.split 10 lines_)",
    "  readIORef rest_ >>= item_",
    "",
]
