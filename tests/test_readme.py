"""The README's first example, as written, against `make run`."""

from __future__ import annotations

import subprocess

import pytest
from conftest import ROOT, OwtProcess, free_port


def first_example() -> tuple[str, str]:
    """The first shell command after "in another terminal", and the output it shows."""
    text = (ROOT / "README.md").read_text()
    block = text.split("Then, in another terminal:", 1)[1].split("\n\n", 2)[1]
    command, expected = (line.strip() for line in block.strip().splitlines()[:2])
    return command, expected.removeprefix("# ")


@pytest.mark.timeout(180)
def test_make_run_serves_the_first_example(tmp_path):
    port = free_port()
    server = OwtProcess(
        command=["make", "--no-print-directory", "run", f"OWT_FLAGS=--state-dir {tmp_path}"],
        env={"OWT_PORT": str(port)},
        ready_timeout=150,
    )
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        command, expected = first_example()
        command = command.replace("localhost:9876", f"localhost:{port}")
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert result.stdout.strip() == expected
    finally:
        server.stop()
