"""The three adaptor shapes, told apart once per code by ``ast``. Stdlib only.

def run(name): ...                              explicit: a module defining the function
lambda name: name.upper()                       implicit: one expression, the function
path().f(lambda names: names[0])                terse: a pipe's tail, read as pipe().path()...
"""

from __future__ import annotations

import ast

__all__ = ["make_terse_explicit", "shape_of", "terse_step"]


def _terse_steps() -> frozenset[str]:
    from owt.summat import STEPS

    return STEPS - {"pipe"}


def shape_of(tree: ast.Module) -> str:
    """``explicit`` (a module), ``implicit`` (one expression) or ``terse`` (a pipe's tail)."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return "explicit"
    root = _chain_root(tree.body[0].value)
    if (
        isinstance(root, ast.Call)
        and isinstance(root.func, ast.Name)
        and root.func.id in _terse_steps()
    ):
        return "terse"
    return "implicit"


def terse_step(source: str) -> str | None:
    """The pipe step a terse adaptor starts with (``sse`` for ``sse(...)``), else None."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    if shape_of(tree) != "terse":
        return None
    root = _chain_root(tree.body[0].value)  # type: ignore[attr-defined]
    return root.func.id  # type: ignore[attr-defined]


def _chain_root(node: ast.expr) -> ast.expr:
    """The innermost call of ``a(...).b(...).c`` — the ``a(...)``."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return node


def make_terse_explicit(expr: ast.expr) -> None:
    root = _chain_root(expr)
    assert isinstance(root, ast.Call) and isinstance(root.func, ast.Name)
    start = ast.Call(func=ast.Name(id="pipe", ctx=ast.Load()), args=[], keywords=[])
    root.func = ast.Attribute(value=start, attr=root.func.id, ctx=ast.Load())
    ast.fix_missing_locations(expr)
