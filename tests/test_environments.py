"""Environments from settings, and virtualenvs built for a call's requirements."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, call

from owt.config import Settings, SettingsError
from owt.core.call import Call
from owt.executors.process.executor import ProcessExecutor
from owt.executors.thread import ThreadExecutor
from owt.executors.venvs import env_key, normalise
from owt.server.environments import EnvSpec, create_environments, create_requirements, parse_env
from owt.server.protocol import sha256_of

SIX = """
import os, sys
import six
def run():
    return {"six": six.__version__, "prefix": sys.prefix, "pid": os.getpid()}
"""


# -- parsing -------------------------------------------------------------------------------


def test_parse_env() -> None:
    assert parse_env(f"ml={sys.executable}") == EnvSpec("ml", sys.executable, 1)
    assert parse_env(f"ml={sys.executable}:3") == EnvSpec("ml", sys.executable, 3)
    assert parse_env("py=python3").python.endswith("python3")  # found on PATH


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nameonly", "expected NAME="),
        ("=/usr/bin/python3", "expected NAME="),
        ("a b=/usr/bin/python3", "the name may hold"),
        (f"x={sys.executable}:0", "at least one worker"),
        ("x=/no/such/python", "not an executable"),
        ("x=no-such-python-here", "no interpreter"),
    ],
)
def test_parse_env_refuses(text: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=reason):
        parse_env(text)


def test_settings_check_refuses_a_duplicate_env() -> None:
    settings = Settings(env=[f"a={sys.executable}", f"a={sys.executable}:2"])
    with pytest.raises(SettingsError, match="more than once"):
        settings.check()


def test_create_environments() -> None:
    envs = create_environments(Settings())  # main: one worker process, 16 threads
    assert list(envs) == ["main"] and isinstance(envs["main"], ProcessExecutor)
    assert envs["main"].pool.size == 1 and envs["main"].pool.capacity == 16
    envs = create_environments(Settings(in_process=True, threads=8))
    assert isinstance(envs["main"], ThreadExecutor)
    assert envs["main"].options.threads == 8
    envs = create_environments(
        Settings(env=[f"ml={sys.executable}:2"], worker_max_calls=5, worker_threads=4)
    )
    assert isinstance(envs["main"], ProcessExecutor) and isinstance(envs["ml"], ProcessExecutor)
    assert envs["ml"].pool.size == 2 and envs["ml"].pool.max_calls == 5
    assert envs["ml"].pool.capacity == 4
    envs = create_environments(Settings(env=[f"main={sys.executable}:3"]))
    assert isinstance(envs["main"], ProcessExecutor) and envs["main"].pool.size == 3


def test_normalise_requirements() -> None:
    assert normalise(["Six==1.16.0", "six==1.16.0", " requests >= 2 "]) == [
        "requests>=2",
        "six==1.16.0",
    ]
    assert normalise('["a", "b"]') == ["a", "b"]
    assert normalise("b, a,") == ["a", "b"]
    assert normalise(["Zope.Interface"]) == ["zope-interface"]
    assert env_key(["a", "b"]) == env_key(normalise("b,a"))
    assert env_key(["a"]) != env_key(["a", "b"])


@pytest.mark.parametrize(
    "text",
    [
        "requests[socks]>=2",
        "pkg @ file:///tmp/pkg",
        "git+https://example.org/a/b.git",
        "./wheels/pkg-1.0-py3-none-any.whl",
        'pkg; python_version > "3"',
        "foo (>=1.0)",
        "numpy ~= 2.0",
    ],
)
def test_normalise_takes_what_pip_reads(text: str) -> None:
    assert len(normalise([text])) == 1


@pytest.mark.parametrize(
    "value",
    [
        [],
        "",
        "[1, 2]",
        3,
        ["--index-url=http://x"],
        "[oops",
        # not what pip reads: each built an environment, then failed to install (424)
        ["not a valid req !!"],
        ["numpy 1.2"],
        ["six\x00"],
        # not a name, so once taken for a location and handed to the installer
        ["<2"],
        [">="],
        ["'3'"],
        ["\u017fix"],  # ſix: no package name starts with it
        # bounded: a longer one failed to start the installer (E2BIG, a 500)
        ['six; python_version > "' + "3" * 200_000 + '"'],
        [f"p{n}" for n in range(300)],
    ],
)
def test_normalise_refuses(value: Any) -> None:
    from owt.core.errors import BadRequest

    with pytest.raises(BadRequest) as refused:
        normalise(value)
    named = [item for item in value if len(item) < 60] if isinstance(value, list) else []
    if len(named) == 1 and len(value) == 1 and not named[0].startswith("-"):  # it names it
        assert repr(named[0]) in refused.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("six>=1,<2", ["six<2,>=1"]),  # a version range is one requirement
        ("six>=1,<2, numpy", ["numpy", "six<2,>=1"]),
        ("six >= 1, != 1.5 ,requests", ["requests", "six!=1.5,>=1"]),
        ("numpy\nsix==1.17.0", ["numpy", "six==1.17.0"]),  # one per line
        ("a,b,", ["a", "b"]),
        ("pkg @ file:///tmp/pkg, six", ["pkg @ file:///tmp/pkg", "six"]),
    ],
)
def test_the_string_form_splits_where_a_requirement_starts(text: str, expected: list[str]):
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "spellings",
    [
        ["six==1.17.0", "six ==1.17.0", "six == 1.17.0", "Six==1.17.0"],
        ["six[foo]==1.17.0", "Six [Foo] ==1.17.0", "six[FOO] == 1.17.0"],
        ["six<2,>=1", "six>=1,<2", "six >=1, <2", "six (>=1,<2)"],
        ['six; python_version > "3"', "six ; python_version>'3'"],
        ["pkg @ file:///tmp/pkg", "pkg@file:///tmp/pkg", "PKG @ file:///tmp/pkg"],
        ["a.b_c[x_y]", "A-B-C[X.Y]"],
    ],
)
def test_one_requirement_has_one_text(spellings: list[str]) -> None:
    """However it is spaced or cased, a requirement is one environment, not one per spelling."""
    assert len({env_key(normalise([text])) for text in spellings}) == 1


@pytest.mark.parametrize(
    ("options", "status", "kind"),
    [({"no_install": True}, 400, "bad_request"), ({"locked": True}, 403, "locked")],
)
def test_requirements_refused(
    options: dict[str, Any], status: int, kind: str, tmp_path: Path
) -> None:
    executor = create_requirements(Settings(state_dir=tmp_path, **options))
    code = "def run(): return 1"
    request = Call(code, sha256_of(code), options={"requirements": ["six==1.16.0"]})
    reply = asyncio.run(executor.submit(request))
    assert reply.status == status
    assert json.loads(reply.body)["error"] == kind
    assert not (tmp_path / "envs").exists()


# -- building, over HTTP ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwtProcess]:
    state = tmp_path_factory.mktemp("state")
    server = OwtProcess("--timeout", "120", "--state-dir", str(state))
    yield server
    server.stop()


def with_requirements(server: OwtProcess, code: str, requirements: Any, **fields: Any):
    return call(server.url, code, fields={"requirements": requirements, **fields}, timeout=150)


def requirements_status(server: OwtProcess) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(server.url + "/_owt/status").json()["requirements"]
    return status


def test_a_set_is_built_once_for_concurrent_callers(server: OwtProcess) -> None:
    results: list[httpx.Response] = []
    callers = [
        threading.Thread(
            target=lambda: results.append(with_requirements(server, SIX, ["six==1.16.0"]))
        )
        for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    first, second = (r.json() for r in results)
    assert first["six"] == "1.16.0"
    assert first["pid"] == second["pid"]
    (key, env) = next(iter(requirements_status(server)["environments"].items()))
    assert env["state"] == "running" and env["requirements"] == ["six==1.16.0"]
    assert first["prefix"] == env["path"] and Path(env["path"]).name == key
    log = Path(env["log"]).read_text()
    assert log.count("pip install") == 1 and "six" in log  # built once, for both

    # Warm afterwards: the same worker, whichever way the set is written.
    again = with_requirements(server, SIX, "Six==1.16.0")
    assert again.status_code == 200 and again.json()["pid"] == first["pid"]
    # The server's own environment is another one.
    where = "import sys\ndef run(): return sys.prefix"
    assert call(server.url, where).text == sys.prefix != first["prefix"]


def test_a_failed_install_is_424_and_not_retried(server: OwtProcess) -> None:
    bad = ["owt-no-such-package==0.0.1"]  # a requirement pip reads, that no index has
    r = with_requirements(server, SIX, bad)
    assert r.status_code == 424, r.text
    assert r.json()["error"] == "install_failed"
    assert "owt-no-such-package" in r.json()["log_tail"]
    envs = requirements_status(server)["environments"]
    (failed,) = [e for e in envs.values() if e["state"] == "failed"]
    log = Path(failed["log"])
    built_at = log.stat().st_mtime_ns

    again = with_requirements(server, SIX, bad)
    assert again.status_code == 424
    assert log.stat().st_mtime_ns == built_at  # not tried again

    rebuilt = with_requirements(server, SIX, bad, rebuild="true")
    assert rebuilt.status_code == 424
    assert log.stat().st_mtime_ns != built_at  # rebuild=true tried again


def test_requirements_and_env_together_are_refused(server: OwtProcess) -> None:
    r = with_requirements(server, SIX, ["six==1.16.0"], env="main")
    assert r.status_code in (200, 400)  # env=main is the default: allowed
    r = with_requirements(server, SIX, ["six==1.16.0"], env="other")
    assert r.status_code == 400
    assert r.json()["field"] == "requirements"


def test_without_uv_venv_and_pip_build_it(tmp_path: Path) -> None:
    from owt.executors.venvs import RequirementsExecutor

    async def main() -> None:
        executor = RequirementsExecutor(
            tmp_path, lambda python, label: ProcessExecutor(python, 1, env=label)
        )
        executor.uv = None
        try:
            call = Call(SIX, sha256_of(SIX), options={"requirements": "six==1.16.0"})
            reply = await executor.submit(call)
            assert reply.status == 200, reply.body
            assert json.loads(reply.body)["six"] == "1.16.0"
            status = executor.status()
            assert status["installer"] == "pip"
            (env,) = status["environments"].values()
            assert "-m pip install" in Path(env["log"]).read_text()
        finally:
            await executor.aclose()

    asyncio.run(main())
