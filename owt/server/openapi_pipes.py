"""The parameters of an endpoint that is a pipe, for its OpenAPI document: the arguments its
``kwarg(name, default)`` and ``kwargs(**defaults)`` steps read.

They are read from the source with ``ast``, as a function's are (describing an endpoint never
runs its code), and typed by the default as the server converts them at the call
(:func:`owt.summat.sources.by_default` and this both use
:func:`owt.core.hints.hint_from_default`): ``kwarg("n", 1)`` is an integer, ``kwarg("name")``
with no default is required and arrives as sent.
"""

from __future__ import annotations

import ast
from typing import Any

from owt.core.hints import hint_from_default
from owt.core.shapes import shape_of
from owt.server.openapi_forms import Parameter, declared, literal

__all__ = ["pipe_parameters"]

#: The steps that read the call's arguments by name.
_READERS = ("kwarg", "kwargs")


def pipe_parameters(tree: ast.Module, fn_name: str) -> tuple[Parameter, ...] | None:
    """The arguments the pipe that is ``fn_name`` in ``tree`` reads (the whole code when it
    is one expression: an implicit or terse pipe), or None when ``tree`` defines no pipe
    there. A pipe made of others (``run = base.f(...)``) reads theirs too."""
    assigned = _assignments(tree)
    shape = shape_of(tree)
    if shape != "explicit":
        root: ast.expr = tree.body[0].value  # type: ignore[attr-defined]
    elif fn_name in assigned:
        root = assigned[fn_name]
    else:
        return None
    found: dict[str, Parameter] = {}
    for call in _reads(root, assigned):
        for param in _parameters(call):
            known = found.get(param.name)
            if known is None:
                found[param.name] = param
            elif known.required and not param.required:  # another step gives it a default
                found[param.name] = Parameter(**{**vars(known), "required": False})
    piped = found or shape == "terse" or _is_pipe(root, assigned)
    return tuple(found.values()) if piped else None


def _assignments(tree: ast.Module) -> dict[str, ast.expr]:
    """Each module-level name's last assigned value (as running the module leaves it)."""
    values: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            values[node.target.id] = node.value
    return values


def _reads(root: ast.expr, assigned: dict[str, ast.expr]) -> list[ast.Call]:
    """The ``kwarg(...)``/``kwargs(...)`` calls in ``root`` and in the module-level values of
    the names it uses, in the order of the source."""
    calls: list[ast.Call] = []
    seen: set[str] = set()
    todo = [root]
    while todo:
        for node in ast.walk(todo.pop(0)):
            if isinstance(node, ast.Call) and _step_name(node) in _READERS:
                calls.append(node)
            elif isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
                seen.add(node.id)
                todo.append(assigned[node.id])
    # In the order of the source: a chain's step names end one after the other.
    return sorted(calls, key=lambda c: (c.func.end_lineno or 0, c.func.end_col_offset or 0))


def _step_name(call: ast.Call) -> str | None:
    """``kwarg`` for ``pipe().kwarg(...)`` and for a terse pipe's first ``kwarg(...)``."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _parameters(call: ast.Call) -> list[Parameter]:
    if _step_name(call) == "kwargs":
        return [_parameter(k.arg, k.value) for k in call.keywords if k.arg is not None]
    if not call.args or not isinstance(call.args[0], ast.Constant):
        return []
    name = call.args[0].value
    if not isinstance(name, str):
        return []
    default = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "default":
            default = keyword.value
    return [_parameter(name, default)]


def _parameter(name: str, default: ast.expr | None) -> Parameter:
    """One argument: required without a default; typed by a literal default, as the server
    converts it (a default it cannot read, a variable, types nothing)."""
    value, known = literal(default)
    hint = hint_from_default(value) if known else Any
    return declared(name, hint, default is None, value, known)


def _is_pipe(root: ast.expr, assigned: dict[str, ast.expr]) -> bool:
    """Whether the expression builds a pipe: a chain that starts with ``pipe(...)`` (or
    with a name assigned such a chain)."""
    node = root
    seen: set[str] = set()
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
            seen.add(node.id)
            node = assigned[node.id]
        else:
            return isinstance(node, ast.Name) and node.id == "pipe"
