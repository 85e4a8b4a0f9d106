"""``owt serve --lib DIR``: wrapper modules in scope in adaptors by name, in every place."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from conftest import OWT, ROOT, OwtProcess, call

SOTA = "f(sota.hard_task)"
SOLVED = "solve AGI: done (solve ✓ → AGI ✓)\n"


def lib_call(server: OwtProcess, code: str, value: object, **fields: object) -> str:
    r = call(server.url, code, path="/owt", fields={"kwargs": {"__last__": value}, **fields})
    assert r.status_code == 200, r.text
    return r.text


def write_module(folder, name: str, body: str) -> None:
    path = folder / f"{name}.py"
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(body)
    # Same-second edits: make the new mtime differ, as a save in an editor would.
    if old:
        os.utime(path, ns=(old + 1_000_000_000, old + 1_000_000_000))


def test_sota_example_from_curl(start_server):
    server = start_server("--lib", "example/lib")
    port = server.url.rsplit(":", 1)[1]
    out = subprocess.run(
        ["bash", str(ROOT / "example/lib/sota.sh"), "solve AGI"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OWT_PORT": port, "OWT_ADDRESS": "127.0.0.1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == SOLVED


def test_lib_from_environment_variable_in_explicit_code(start_server):
    server = start_server(env={"OWT_LIB": str(ROOT / "example/lib")})
    code = "def run(prompt):\n    return sota.hard_task(prompt).upper()\n"
    r = call(server.url, code, prompt="solve AGI")
    assert r.status_code == 200, r.text
    assert r.text == SOLVED.upper()


def test_names_the_code_assigns_are_not_imported(start_server, tmp_path):
    write_module(tmp_path, "noisy", "raise RuntimeError('imported')\n")
    server = start_server("--lib", str(tmp_path))
    code = "def run(noisy=1):\n    return noisy + 1\n"
    r = call(server.url, code, noisy=2)
    assert r.text == "3"
    r = call(server.url, "def run():\n    return noisy\n")
    assert r.status_code == 422 and "imported" in r.json()["message"]


@pytest.mark.parametrize("flags", [(), ("--isolate",)], ids=["thread", "worker"])
def test_edited_module_is_picked_up_on_the_next_call(start_server, tmp_path, flags):
    write_module(tmp_path, "wrap", "def go(x):\n    return f'one {x}'\n")
    server = start_server("--lib", str(tmp_path), *flags)
    assert lib_call(server, "f(wrap.go)", "a") == "one a"
    assert lib_call(server, "f(wrap.go)", "b") == "one b"
    write_module(tmp_path, "wrap", "def go(x):\n    return f'two {x}'\n")
    assert lib_call(server, "f(wrap.go)", "c") == "two c"
    # A module added after the server started, importing its neighbour from the lib folder.
    write_module(tmp_path, "later", "import wrap\n\ndef go(x):\n    return wrap.go(x) + '!'\n")
    assert lib_call(server, "f(later.go)", "d") == "two d!"


@pytest.mark.parametrize("flags", [(), ("--isolate",)], ids=["thread", "worker"])
def test_an_edit_that_keeps_size_and_mtime_is_picked_up(start_server, tmp_path, flags):
    write_module(tmp_path, "wrap", "def go(x):\n    return f'aa {x}'\n")
    server = start_server("--lib", str(tmp_path), *flags)
    assert lib_call(server, "f(wrap.go)", "a") == "aa a"
    path = tmp_path / "wrap.py"
    old = path.stat()
    write_module(tmp_path, "wrap", "def go(x):\n    return f'bb {x}'\n")  # same size
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # as cp -p or rsync -t leave it
    assert lib_call(server, "f(wrap.go)", "b") == "bb b"


def test_lib_in_a_bare_interpreter(start_server, bare_python):
    server = start_server("--lib", "example/lib", "--env", f"bare={bare_python}")
    assert lib_call(server, SOTA, "solve AGI", env="bare") == SOLVED
    assert lib_call(server, SOTA, "solve AGI") == SOLVED


def test_missing_lib_folder_refuses_to_start(tmp_path):
    result = subprocess.run(
        [*OWT, "serve", "--port", "0", "--lib", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "--lib" in result.stderr and "no such folder" in result.stderr


def test_unchanged_lib_costs_no_recompile(start_server, tmp_path):
    write_module(tmp_path, "wrap", "def go(x):\n    return x\n")
    server = start_server("--lib", str(tmp_path), "--in-process")  # its status counts compiles
    for _ in range(3):
        assert lib_call(server, "f(wrap.go)", "x") == "x"
    status = httpx.get(server.url + "/_owt/status").json()
    assert status["environments"]["main"]["compiles"] == 1


def test_ray_actors_get_the_lib_folders_in_their_runtime_env(tmp_path):
    pytest.importorskip("ray")
    from owt.executors.base import ExecutorOptions
    from owt.executors.ray.executor import RayExecutor

    options = ExecutorOptions(lib=(str(tmp_path),))
    executor = RayExecutor(options=options, env_vars={"A": "1"})
    assert executor.actor_options["runtime_env"]["env_vars"] == {
        "OWT_LIB_PATH": str(tmp_path),
        "A": "1",
    }


def test_a_broken_save_fails_until_it_is_fixed(start_server, tmp_path):
    write_module(tmp_path, "wrap", "def go(x):\n    return f'one {x}'\n")
    server = start_server("--lib", str(tmp_path))
    assert lib_call(server, "f(wrap.go)", "a") == "one a"
    write_module(tmp_path, "wrap", "def go(x):\n    return f'two {x}'\nraise ValueError('oops')\n")
    for _ in range(2):
        r = call(server.url, "f(wrap.go)", fields={"kwargs": {"__last__": "b"}})
        assert r.status_code == 422 and "oops" in r.json()["message"], r.text
    write_module(tmp_path, "wrap", "def go(x):\n    return f'three {x}'\n")
    assert lib_call(server, "f(wrap.go)", "c") == "three c"


@pytest.mark.parametrize("flags", [(), ("--in-process",)], ids=["worker", "thread"])
def test_a_missing_module_names_the_lib_folders_too(start_server, tmp_path, flags):
    """A module the code imports may be a wrapper meant for a --lib folder: the advice says
    where those are, beside requirements and env."""
    server = start_server("--lib", str(tmp_path), *flags)
    r = call(server.url, "import wrapz\ndef run(x):\n    return wrapz.go(x)\n", x="b")
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert "no module 'wrapz'" in message and 'requirements=["wrapz"]' in message
    assert f"--lib folders ({tmp_path}) must be there as wrapz.py" in message


@pytest.mark.parametrize("flags", [(), ("--in-process",)], ids=["worker", "thread"])
def test_a_removed_lib_module_is_named_as_gone(start_server, tmp_path, flags):
    """It answered ModuleNotFoundError with advice to send requirements=["newmod"], and every
    code compiled since the module was loaded failed the same way, naming it or not."""
    write_module(tmp_path, "newmod", "def go(x):\n    return f'new {x}'\n")
    write_module(tmp_path, "other", "def go(x):\n    return f'other {x}'\n")
    server = start_server("--lib", str(tmp_path), *flags)
    assert lib_call(server, "f(newmod.go)", "a") == "new a"
    assert lib_call(server, "f(other.go)", "b") == "other b"
    (tmp_path / "newmod.py").unlink()
    r = call(server.url, "f(newmod.go)", fields={"kwargs": {"__last__": "c"}})
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert message.startswith(f"newmod was the --lib module {tmp_path / 'newmod.py'}, which has")
    assert "requirements" not in message
    assert lib_call(server, "f(other.go)", "d") == "other d"
    write_module(tmp_path, "newmod", "def go(x):\n    return f'back {x}'\n")
    assert lib_call(server, "f(newmod.go)", "e") == "back e"


@pytest.mark.parametrize("flags", [(), ("--in-process",)], ids=["worker", "thread"])
def test_a_lib_module_that_fails_to_load_is_named_not_the_adaptor(start_server, tmp_path, flags):
    """It said "the code's top level raised RuntimeError: boom at import": the adaptor's."""
    write_module(
        tmp_path, "boom", "def go(x):\n    return x\n\nraise RuntimeError('boom at import')\n"
    )
    write_module(tmp_path, "typo", "def go(x)\n    return x\n")
    server = start_server("--lib", str(tmp_path), *flags)
    r = call(server.url, "f(boom.go)", fields={"kwargs": {"__last__": "a"}})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"].startswith(
        f"the --lib module boom ({tmp_path / 'boom.py'}) raised RuntimeError: boom at import, "
        "when it was imported; fix that file"
    )
    assert "raise RuntimeError('boom at import')" in body["traceback"]
    assert "importlib" not in body["traceback"]
    r = call(server.url, "f(typo.go)", fields={"kwargs": {"__last__": "a"}})
    body = r.json()
    assert (r.status_code, body["error"]) == (422, "compile_error")
    assert body["message"].startswith(f"the --lib module typo ({tmp_path / 'typo.py'}) does not ")
    assert "line" not in body and "column" not in body  # those point into the adaptor's code
    write_module(tmp_path, "boom", "def go(x):\n    return f'fixed {x}'\n")
    assert lib_call(server, "f(boom.go)", "b") == "fixed b"
