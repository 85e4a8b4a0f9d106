"""Python from the endpoints: a typed module over ``owt.client``.

    def generate(client: Client, animal: Animal) -> bytes

An enum is a ``Literal`` alias (of strings, numbers, booleans, None), a record a
``TypedDict`` (the JSON object as it comes), a streamed result an iterator of its chunks —
of its items, decoded, where the server streams them as JSON lines (numbers, lists, dicts,
records) — and a ``bytes`` parameter takes bytes (sent as a multipart file part). The
module imports only what it uses.

A parameter with a default is a keyword: left out of the call when not
given — ``None`` when None cannot be its value or is its default, else ``...``, so that an
explicit None is sent. Every other value given is sent, None included.

Names never clash: an endpoint, type or parameter named like something the module imports or
uses (``cast``, ``Client``, ``int``) or like another after spelling (``my-end-point``,
``my_end.point``) gets a suffix (``cast_``, ``my_end_point_2``).
"""

from __future__ import annotations

import ast
import keyword
import unicodedata
from collections.abc import Mapping

from owt.cli.codegen.model import Field, Function, Module, Type, value_text
from owt.cli.codegen.naming import Names, words

__all__ = ["py_type", "render", "snake"]

#: What the module binds or reads at its top level (imports, builtins in hints and bodies).
MODULE_NAMES = (
    "annotations", "Iterator", "Any", "Literal", "NotRequired", "TypedDict", "cast",
    "EllipsisType", "Client", "URL", "int", "float", "str", "bool", "bytes", "dict", "list",
)  # fmt: skip
#: What a function's body reads besides its parameters (its own locals start with ``_``).
BODY_NAMES = ("client", "cast", "Any", "int", "float", "str", "bool", "bytes", "dict", "list")


def _nfkc(name: str) -> str:
    """Python reads identifiers in NFKC: two names equal so are one name."""
    return unicodedata.normalize("NFKC", name)


def snake(name: str) -> str:
    text = _nfkc("_".join(words(name, ascii=False))) or "value"
    if not text.isidentifier():  # begins with a digit
        text = "_" + text
    return text + "_" if keyword.iskeyword(text) or text == "client" else text


def py_type(t: Type, *, result: bool = False, names: Mapping[str, str] | None = None) -> str:
    simple = {"int": "int", "float": "float", "bool": "bool", "str": "str", "none": "None"}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "bytes":  # the client sends bytes as a multipart file part
        return "bytes"
    if t.kind == "any":
        return "Any"
    if t.kind == "json":
        return "dict[str, Any]"
    if t.kind == "list":
        assert t.item is not None
        return f"list[{py_type(t.item, names=names)}]"
    if t.kind == "optional":
        assert t.item is not None
        return f"{py_type(t.item, names=names)} | None"
    return (names or {}).get(t.name, t.name)


def render(module: Module) -> str:
    top = Names([*keyword.kwlist, *MODULE_NAMES], same=_nfkc)
    names = {t.name: top.give(t.name) for t in module.types.values()}
    out = [f"URL = {module.url!r}", ""]
    for t in module.types.values():
        name = names[t.name]
        if t.kind == "enum":
            out += [f"{name} = Literal[{', '.join(repr(v) for v in t.values)}]", ""]
        else:
            out += ["", *_record(name, t.fields, names), ""]
    for fn in module.functions:
        out += ["", *_function(fn, top.give(snake(fn.name)), names)]
    head = [
        f'"""The endpoints of {module.url}, typed: written by ``owt codegen --lang python``.',
        "",
        "Run it again when they change. Each function takes an ``owt.client.Client``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        *_imports("\n".join(out)),
        "",
        "from owt.client import Client",
        "",
    ]
    return "\n".join([*head, *out])


#: What the module may import, from where; each only when the code uses it.
_IMPORTS = {
    "collections.abc": ("Iterator",),
    "types": ("EllipsisType",),
    "typing": ("Any", "Literal", "NotRequired", "TypedDict", "cast"),
}


def _imports(code: str) -> list[str]:
    """The import lines of the names ``code`` uses (a name the module gives to its own
    endpoint, type or parameter has a mark, ``cast_``, so never reads as the import's)."""
    used = _names_used(ast.parse(code))
    lines = []
    for module, names in _IMPORTS.items():
        wanted = [name for name in names if name in used]
        if wanted:
            lines.append(f"from {module} import {', '.join(wanted)}")
    return lines


def _names_used(tree: ast.AST) -> set[str]:
    """The names ``tree`` reads, in the types that strings hold too: ``cast("Point", ...)``'s
    and a functional TypedDict's values (its keys are data)."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            hints: list[ast.expr] = []
            if node.func.id == "cast" and node.args:
                hints = node.args[:1]
            elif node.func.id == "TypedDict" and len(node.args) > 1:
                fields = node.args[1]
                hints = list(fields.values) if isinstance(fields, ast.Dict) else []
            for hint in hints:
                if isinstance(hint, ast.Constant) and isinstance(hint.value, str):
                    used |= _names_used(ast.parse(hint.value, mode="eval"))
    return used


def _record(name: str, fields: tuple[Field, ...], names: Mapping[str, str]) -> list[str]:
    def hint(f: Field) -> str:
        text = py_type(f.type, names=names)
        return text if f.required else f"NotRequired[{text}]"

    plain = all(
        f.name.isidentifier() and not keyword.iskeyword(f.name) and f.name not in MODULE_NAMES
        for f in fields
    )
    if plain:  # the class form; else the functional one, whose keys may be any text
        return [
            f"class {name}(TypedDict):",
            *([f"    {f.name}: {hint(f)}" for f in fields] or ["    pass"]),
        ]
    members = ", ".join(f"{f.name!r}: {hint(f)!r}" for f in fields)
    return [f"{name} = TypedDict({name!r}, {{{members}}})"]


def _without_none(t: Type) -> Type:
    return t.item if t.kind == "optional" and t.item is not None else t


#: Results the server sends as their text, which the generated code reads back.
TEXT_RESULTS = ("int", "float", "str", "bool")


def _convert(t: Type, names: Mapping[str, str]) -> str:
    """The decoded body (JSON, text or bytes, by content type) as the result's type."""
    item = t.item if t.kind == "optional" else None
    if item is not None and (item.kind in TEXT_RESULTS or item.kind == "enum"):
        return f"None if _result is None else {_convert(item, names)}"  # None: no body
    if t.kind in ("int", "float", "str"):
        return f"{t.kind}(_result)"
    if t.kind == "bool":
        return 'bool(_result == "True")'
    if t.kind == "any":  # already Any: a cast would be redundant
        return "_result"
    hint = py_type(t, result=True, names=names)
    if t.kind == "enum" and not t.textual:  # the server answers a value with its text
        texts = ", ".join(f"{value_text(v)!r}: {v!r}" for v in t.values if v is not None)
        return f"cast({hint!r}, {{{texts}}}.get(_result, _result))"
    return f"cast({hint!r}, _result)"


def _function(fn: Function, name: str, types: Mapping[str, str]) -> list[str]:
    scope = Names([*keyword.kwlist, *BODY_NAMES], same=_nfkc)
    names = {p.name: scope.give(snake(p.name)) for p in fn.params}
    required = [f"{names[p.name]}: {py_type(p.type, names=types)}" for p in fn.params if p.required]
    optional, given = [], []
    for p in fn.params:
        if p.required:
            continue
        if p.type.kind == "optional" and not p.none_default:  # None is a value to send
            optional.append(f"{names[p.name]}: {py_type(p.type, names=types)} | EllipsisType = ...")
            given.append(f"    if {names[p.name]} is not ...:")
        else:
            hint = py_type(_without_none(p.type), names=types)
            optional.append(f"{names[p.name]}: {hint} | None = None")
            given.append(f"    if {names[p.name]} is not None:")
        given.append(f"        _kwargs[{p.name!r}] = {names[p.name]}")
    params = ", ".join(["client: Client", *required, *(["*", *optional] if optional else [])])
    sent = ", ".join(f"{p.name!r}: {names[p.name]}" for p in fn.params if p.required)
    doc = f'    """POST {fn.path}' + (f": {fn.summary}" if fn.summary else "") + '"""'
    lines = [f"    _kwargs: dict[str, Any] = {{{sent}}}", *given]
    endpoint = f"client.endpoint({fn.path.lstrip('/')!r})"
    if fn.stream:
        item = {"str": "str", "bytes": "bytes"}.get(fn.result.kind)
        each = [f"    for _chunk in {endpoint}.stream(**_kwargs):"]
        each += [f"        yield cast({item!r}, _chunk)"]
        if fn.result.json_lines:  # the server streams each item as a JSON line
            item = py_type(fn.result, result=True, names=types)
            each = [f"    for _item in {endpoint}.items(**_kwargs):"]
            each += [f"        yield cast({item!r}, _item)"]
        elif item is None:  # a chunk is already str | bytes
            item, each = "str | bytes", [f"    yield from {endpoint}.stream(**_kwargs)"]
        return [f"def {name}({params}) -> Iterator[{item}]:", doc, *lines, *each, ""]
    call = [f"    _result = {endpoint}(**_kwargs)", f"    return {_convert(fn.result, types)}"]
    if fn.result.kind == "none":  # a function of no result returns nothing
        call = [f"    {endpoint}(**_kwargs)"]
    hint = py_type(fn.result, result=True, names=types)
    return [f"def {name}({params}) -> {hint}:", doc, *lines, *call, ""]
