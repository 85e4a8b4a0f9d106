"""Source → code object, once per distinct code, with bounded failures. Stdlib only.

``ast.parse`` and ``compile`` hold the GIL for their whole run: a 7 MB adaptor keeps every
other thread of the process, the server's event loop included, waiting for seconds. So a
server running calls on its own threads compiles a large new code in another process
(:func:`precompile`, whose result is marshalled back) and its runner only loads it.
Very deep code (a 300,000-term expression) exhausts the parser's recursion: that is the
code's ``compile_error`` (422), not a fault of owt.
"""

from __future__ import annotations

import ast
import marshal
import traceback
import types
from typing import Any

from owt.core.errors import CompileError
from owt.core.shapes import make_terse_explicit, shape_of

__all__ = ["compile_code", "load_precompiled", "precompile"]

_TOO_DEEP = (RecursionError, MemoryError)


def compile_code(code: str, filename: str) -> tuple[str, types.CodeType]:
    """(shape, code object): ``exec`` mode for an explicit module, ``eval`` for the others."""
    try:
        tree = ast.parse(code, filename)
    except SyntaxError as exc:
        raise _syntax_error(exc)
    except _TOO_DEEP as exc:
        raise _too_deep(exc)
    shape = shape_of(tree)
    try:
        if shape == "explicit":
            return shape, compile(tree, filename, "exec")
        expr = tree.body[0]
        assert isinstance(expr, ast.Expr)
        if shape == "terse":
            make_terse_explicit(expr.value)
        return shape, compile(ast.Expression(expr.value), filename, "eval")
    except SyntaxError as exc:  # found only by the compiler: 'return' outside function, ...
        raise _syntax_error(exc)
    except _TOO_DEEP as exc:
        raise _too_deep(exc)


def _syntax_error(exc: SyntaxError) -> CompileError:
    return CompileError(
        f"SyntaxError: {exc.msg}",
        line=exc.lineno,
        column=exc.offset,
        traceback="".join(traceback.format_exception_only(type(exc), exc)),
    )


def _too_deep(exc: BaseException) -> CompileError:
    return CompileError(
        f"the code is nested too deeply to compile ({type(exc).__name__}); split long "
        "expressions into statements"
    )


def precompile(code: str, filename: str) -> tuple[str, bytes | dict[str, Any]]:
    """:func:`compile_code` for another process: (shape, marshalled code) or
    ("error", the CompileError's payload)."""
    try:
        shape, compiled = compile_code(code, filename)
    except CompileError as err:
        return "error", err.payload()
    return shape, marshal.dumps(compiled)


def load_precompiled(result: tuple[str, bytes | dict[str, Any]]) -> tuple[str, types.CodeType]:
    """What :func:`precompile` sent back, as :func:`compile_code` would have returned it."""
    shape, data = result
    if isinstance(data, dict):
        extra = {k: v for k, v in data.items() if k not in ("error", "message")}
        raise CompileError(str(data.get("message", "")), **extra)
    return shape, marshal.loads(data)
