"""The Haskell client (clients/haskell) against a real server, built with Debian's GHC.

tests/haskell/OwtCheck.hs runs one scenario per invocation and prints a line per result; it
is compiled once per session.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, OwtProcess, free_port, require

SOURCES = ROOT / "clients" / "haskell" / "src"
EXAMPLE = ROOT / "clients" / "haskell" / "examples" / "sota.hs"


def ghc() -> str:
    found = shutil.which("ghc")
    if found is None:
        require("ghc (apt-get install ghc libghc-http-client-dev libghc-aeson-dev ...)")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def haskell_check(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], list[str]]:
    out = tmp_path_factory.mktemp("haskell")
    binary = out / "check"
    program = ROOT / "tests" / "haskell" / "OwtCheck.hs"
    build = subprocess.run(
        [ghc(), "-O0", f"-i{SOURCES}", "-outputdir", str(out), "-o", str(binary), str(program)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr

    def run(url: str, scenario: str) -> list[str]:
        result = subprocess.run(
            [str(binary), url, scenario], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.splitlines()

    return run


def test_calls_plain_values_records_objects_and_endpoints(start_server, haskell_check):
    server: OwtProcess = start_server("--mount", "greet=example/endpoints/greet.py")
    assert haskell_check(server.url + "/owt", "calls") == [
        'post-plain "PLAIN"',
        'get-plain "PLAIN"',
        'post-list "6"',
        'post-record Echo {greeting = "Hello, ann!", total = 4}',
        'get-record Echo {greeting = "Hello, bob!", total = 6}',
        'post-object Echo {greeting = "Hello, cy!", total = 2}',
        "json-list [0,1,2]",
        "ok ✓",
        'bytes "\\NUL\\255"',
        'endpoint "Hello, dee!\\n"',
        'get-endpoint "Hello, eve!\\nHello, eve!\\n"',
        'fields "alt"',
        'files "\\255\\NUL\\a"',  # raw bytes in a file part, beside JSON arguments
        'files-again "\\255\\b"',  # the same code again, by its hash
    ]


def test_streams_and_server_sent_events(owt_server, haskell_check):
    assert haskell_check(owt_server.url, "stream") == [
        'chunks "chunk 0;chunk 1;chunk 2;"',
        'event ("message","{\\"i\\": 0}",Just "1",Right (Object (fromList [("i",Number 0.0)])))',
        'event ("message","{\\"i\\": 1}",Just "2",Right (Object (fromList [("i",Number 1.0)])))',
        'get-event "a\\nb"',
        'done-item ("a",Just "1")',
        'done-item ("[DONE]",Just "2")',
        'done-item ("b",Just "3")',
        'bare-event ("a",Nothing)',
        'before-error ("1",Just "7")',
        'sse-error ("adaptor_error","late")',
    ]


def test_chunks_arrive_as_they_are_made(owt_server, haskell_check):
    (a, first), (b, last) = (line.split() for line in haskell_check(owt_server.url, "live"))
    assert (a, b) == ("a", "b")
    assert float(last) - float(first) > 1.0  # the first chunk came before the pause


def test_code_is_sent_once_then_by_hash_and_again_when_unknown(start_server, haskell_check):
    server = start_server("--max-codes", "1")
    assert haskell_check(server.url, "hash") == [
        'first "True"',
        'again "False"',
        'other "True"',
        'evicted "True"',
        'after "False"',
    ]


def test_basic_and_token_auth(start_server, haskell_check):
    digest = hashlib.sha256(b"secret").hexdigest()
    server = start_server("--auth", f"alice:{digest}", "--token", "tok-1")
    assert haskell_check(server.url, "auth") == [
        'none (401,"unauthorized")',
        'wrong (401,"unauthorized")',
        'basic "basic"',
        'token "token"',
    ]


def test_errors_carry_owts_json_error(owt_server, haskell_check):
    assert haskell_check(owt_server.url, "errors") == [
        'raised (500,"adaptor_error",True)',
        'syntax (422,"compile_error",True)',
        'args (400,"bad_request",False)',
        'decode (200,"bad_result",False)',
        'teapot (418,"http_error","no")',
    ]


def run_sota(url: str, token: str = "") -> subprocess.CompletedProcess[str]:
    """The example as written, pointed at ``url`` as its comment says (``OWT_URL``)."""
    return subprocess.run(
        ["runghc", f"-i{SOURCES}", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OWT_URL": url, "OWT_TOKEN": token},
    )


def test_readme_sota_example_runs_with_runghc(start_server):
    ghc()
    line = next(ln for ln in EXAMPLE.read_text().splitlines() if ln.startswith("sota client = "))
    assert line in (ROOT / "README.md").read_text(), "the README shows the example as it runs"
    server = start_server("--lib", "example/lib", "--token", "T0k3n")
    result = run_sota(server.url, token="T0k3n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "solve AGI: done (solve ✓ → AGI ✓)\n"
    refused = run_sota(server.url)
    assert refused.returncode != 0 and "wants a token: set OWT_TOKEN" in refused.stderr


def test_sota_says_what_to_do_when_it_cannot_call(owt_server):
    ghc()
    nobody = run_sota(f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode != 0
    assert "no owt answered at" in nobody.stderr and "OWT_URL" in nobody.stderr
    assert "HttpExceptionRequest" not in nobody.stderr
    no_lib = run_sota(owt_server.url)  # a server without --lib example/lib
    assert no_lib.returncode != 0 and "start it with --lib example/lib" in no_lib.stderr


def test_the_cabal_package_builds_offline_from_the_system_database(tmp_path: Path):
    ghc()
    package = tmp_path / "owt-client"
    shutil.copytree(ROOT / "clients" / "haskell", package)
    for step in (["configure", "--user"], ["build"]):
        result = subprocess.run(
            ["runghc", "Setup.hs", *step, f"--builddir={tmp_path / 'dist'}"],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=package,
        )
        assert result.returncode == 0, result.stdout + result.stderr
