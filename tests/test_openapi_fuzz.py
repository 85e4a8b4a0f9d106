"""schemathesis, an independent OpenAPI fuzzer, against ``/_owt/openapi.json`` of a real server.

``st run --checks all`` with typed, untyped and pipe mounted endpoints, bounded in examples and
time. (A ``bytes`` endpoint's multipart text fields are text whatever a client meant them to
be: a fuzzer's "an object where a string belongs" arrives as the object's JSON text, which is
a string; multipart is tested in tests/test_binary.py.) The generic call (``operationId``
``call_*``) cannot be described down to "base64 of Python source that compiles": a
well-formed ``code_b64`` may still decode to text that is not Python (400, 422), and a call
may ask for a timeout too short to run anything (504). The config says so for those
operations; an endpoint's call may ask for such a timeout too (its only allowance). The
server stores no response (``--cache-max-bytes 0``): a cache hit answers without reading the
arguments (SPEC §5), so a fuzzed ``use_cache`` without ``cache_kwargs`` would be answered
from a call with other arguments, missing ones included. Every other check runs as is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OwtProcess

TYPED = """
from typing import Literal

def run(name: str, times: int = 1, loud: bool = False,
        style: Literal["plain", "shout"] = "plain", tags: list[str] | None = None) -> str:
    text = f"Hello, {name}!" * max(0, min(times, 3))
    return text.upper() if loud or style == "shout" else text
"""
UNTYPED = """
def run(name, n=1, ratio=0.5, loud=False, tags=()):
    return {"name": name, "n": n, "ratio": ratio, "loud": loud, "tags": list(tags)}
"""
# A pipe: its parameters are the arguments its kwarg()/kwargs() steps read.
PIPED = """
run = pipe().kwargs(n=1, ratio=0.5, loud=False, tags=()).fork(dict, pipe().kwarg("name").f(str))
"""
CONFIG = """
[[operations]]
include-operation-id-regex = "^call_"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"
]
checks.not_a_server_error.expected-statuses = ["1xx", "2xx", "3xx", "4xx", "504"]

[[operations]]
include-operation-id-regex = "^endpoint_"
checks.not_a_server_error.expected-statuses = ["1xx", "2xx", "3xx", "4xx", "504"]
"""


def st_command() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return [found]


@pytest.mark.timeout(240)
def test_schemathesis_finds_no_failures(tmp_path: Path) -> None:
    command = st_command()
    for name, code in (("typed", TYPED), ("untyped", UNTYPED), ("piped", PIPED)):
        (tmp_path / f"{name}.py").write_text(code)
    (tmp_path / "st.toml").write_text(CONFIG)
    server = OwtProcess(
        "--no-install",  # no fuzzed requirement set is ever installed
        *("--cache-max-bytes", "0"),
        *("--mount", f"typed={tmp_path / 'typed.py'}"),
        *("--mount", f"untyped={tmp_path / 'untyped.py'}"),
        *("--mount", f"piped={tmp_path / 'piped.py'}"),
    )
    try:
        done = subprocess.run(
            [
                *command,
                *("--config-file", str(tmp_path / "st.toml")),
                "run",
                f"{server.url}/_owt/openapi.json",
                *("--checks", "all"),
                *("--max-examples", "25"),
                *("--max-time", "60"),
                *("--workers", "1"),
                *("--seed", "1"),
            ],
            capture_output=True,
            text=True,
            timeout=200,
            cwd=tmp_path,
        )
    finally:
        server.stop()
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    assert "passed" in report
