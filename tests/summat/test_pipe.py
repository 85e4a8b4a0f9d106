"""The Pipe itself: immutable chaining, composition, calling, and the runner contract."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from summat_support import make_request

import owt.summat
from owt.summat import STEPS, Pipe, Step, pipe
from owt.summat.transforms import F

SUMMAT = Path(owt.summat.__file__).parent

ISSUE_STEPS = {
    *("kwarg", "kwargs", "input", "path", "query", "json", "const"),
    *("f", "cast", "exec", "identity", "clear", "last", "ix", "get", "map"),
    *("foldl", "foldl1", "bytes", "cond", "fork"),
    *("open", "importing", "installing", "shell"),
    *("sentences", "batch", "each", "sse", "json_out", "b64", "wav", "keep"),
}


def test_steps_lists_every_step_method() -> None:
    assert ISSUE_STEPS == STEPS
    for name in STEPS:
        assert callable(getattr(Pipe, name))


def test_every_step_returns_a_new_pipe_and_leaves_the_prefix_alone() -> None:
    base = pipe().json()
    a = base.get("a")
    b = base.get("b")
    req = make_request(data='{"a": 1, "b": 2}', content_type="application/json")
    assert (a(req), b(req), base(req)) == (1, 2, {"a": 1, "b": 2})
    assert len(base.steps) == 1


def test_call_signature_is_the_runner_contract() -> None:
    params = list(inspect.signature(pipe()).parameters.values())
    assert [(p.name, p.kind) for p in params] == [
        ("request", inspect.Parameter.POSITIONAL_ONLY),
        ("kwargs", inspect.Parameter.VAR_KEYWORD),
    ]
    assert params[0].default is None


def test_call_rejects_a_plain_first_argument() -> None:
    with pytest.raises(TypeError, match="__last__=value"):
        pipe()("not a request")  # type: ignore[arg-type]


def test_done_makes_a_plain_function() -> None:
    run = pipe().path().ix(-1).done()
    assert inspect.isfunction(run)
    params = list(inspect.signature(run).parameters)
    assert params == ["request", "kwargs"]
    assert run(make_request("/a/b")) == "b"
    assert pipe().kwarg("n").done()(n=3) == 3


def test_to_appends_steps_pipes_and_functions() -> None:
    double = pipe().f(lambda x: x * 2)
    composed = pipe().const(2).to(double).to(F(str)).to(lambda s: s + "!")
    assert composed() == "4!"
    with pytest.raises(TypeError, match="expected a step, a pipe or a function"):
        pipe().to(3)  # type: ignore[call-overload]


def test_pipe_of_steps() -> None:
    assert pipe(pipe().const(3), lambda n: n + 1)() == 4


def test_a_custom_step() -> None:
    class Twice(Step[str, str]):
        name = "twice"

        def run(self, last: str, ctx: owt.summat.Context) -> str:
            return last * 2

    assert pipe().const("ab").to(Twice())() == "abab"
    assert repr(pipe().to(Twice())) == "pipe().twice()"


def test_repr_reads_like_the_code() -> None:
    shout = pipe().kwarg("path").open(root_dir="example").bytes().f(bytes.upper)
    assert repr(shout) == "pipe().kwarg('path').open(root_dir='example').bytes().f(bytes.upper)"
    assert (
        repr(pipe().kwargs(lang="en").shell(timeout=5))
        == "pipe().kwargs(lang='en').shell(timeout=5)"
    )


def test_importing_summat_pulls_in_no_server_packages() -> None:
    code = (
        "import sys, owt.summat; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'anyio', 'httpx', 'click')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_summat_imports_only_the_stdlib_and_owt() -> None:
    allowed = set(sys.stdlib_module_names) | {"owt", "__future__"}
    for source in SUMMAT.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{source.name} imports {roots - allowed}"


def test_modules_are_small_and_declare_all() -> None:
    for source in SUMMAT.glob("*.py"):
        text = source.read_text()
        assert len(text.splitlines()) <= 400, source.name
        assert "__all__" in text, source.name
