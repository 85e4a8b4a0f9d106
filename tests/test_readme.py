"""The README's first example, as written, against `make run`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess

import pytest
from conftest import ROOT, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_example() -> tuple[str, str]:
    """The first shell command after "in another terminal", and the output it shows."""
    text = (ROOT / "README.md").read_text()
    block = text.split("Then, in another terminal:", 1)[1].split("\n\n", 2)[1]
    command, expected = (line.strip() for line in block.strip().splitlines()[:2])
    return command, expected.removeprefix("# ")


@pytest.mark.timeout(180)
def test_make_run_serves_the_first_example(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"OWT_FLAGS=--state-dir {tmp_path}"],
        cwd=ROOT,
        env={**os.environ, "OWT_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("owt serving on "):
                break
        else:
            pytest.fail("make run did not start owt")
        assert line.split()[-1] == f"http://127.0.0.1:{port}"
        command, expected = first_example()
        command = re.sub(r"localhost:9876", f"localhost:{port}", command)
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert result.stdout.strip() == expected
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert wait_until(lambda: proc.poll() is not None, timeout=15)
        if proc.stdout:
            proc.stdout.close()
