"""Source saved by Windows editors (SPEC §3): a UTF-8 BOM and CRLF line ends run wherever
code enters — ``code_b64``, mounted and ``--allow``'ed files, the clients — and the code is
hashed as the text after the BOM."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, OwtProcess, b64

from owt.client import Client, Source

WINDOWS = "\ufeffdef run(name):\r\n    return 'Hello, ' + name\r\n"
PLAIN = WINDOWS[1:]
SHA = hashlib.sha256(PLAIN.encode()).hexdigest()


def test_code_b64_with_bom_and_crlf_runs(owt_server: Any) -> None:
    r = httpx.post(owt_server.url + "/", json={"code_b64": b64(WINDOWS), "kwargs": {"name": "owt"}})
    assert r.status_code == 200, r.text
    assert r.text == "Hello, owt"
    # Known by the hash of the text after the BOM.
    r = httpx.post(owt_server.url + "/", json={"code_sha256": SHA, "kwargs": {"name": "again"}})
    assert r.status_code == 200, r.text
    assert r.text == "Hello, again"


def test_old_mac_line_ends_run(owt_server: Any) -> None:
    code = "def run(name):\r    return 'CR ' + name\r"
    r = httpx.post(owt_server.url + "/", json={"code_b64": b64(code), "kwargs": {"name": "owt"}})
    assert r.text == "CR owt"


def test_mounted_and_allowed_files_with_bom_run(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_bytes(WINDOWS.encode())
    server = OwtProcess(
        "--locked",
        *("--mount", f"hello={tmp_path / 'hello.py'}"),
        *("--allow", str(tmp_path / "hello.py")),
    )
    try:
        assert httpx.get(server.url + "/hello?name=mount").text == "Hello, mount"
        r = httpx.post(server.url + "/", json={"code_sha256": SHA, "kwargs": {"name": "hash"}})
        assert r.status_code == 200, r.text
        assert r.text == "Hello, hash"
    finally:
        server.stop()


def test_python_client_file_with_bom(owt_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "hello.py"
    path.write_bytes(WINDOWS.encode())
    assert Source(WINDOWS).sha256 == SHA
    with Client(owt_server.url) as client:
        assert client.call(path, name="file") == "Hello, file"
        assert client.call(str(path), name="again") == "Hello, again"  # now by its hash
        assert client.call(WINDOWS.encode(), name="bytes") == "Hello, bytes"


def test_cli_and_shell_client_file_with_bom(owt_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "hello.py"
    path.write_bytes(WINDOWS.encode())
    out = subprocess.run(
        [sys.executable, "-m", "owt", "call", owt_server.url, str(path), "name=cli"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Hello, cli"
    script = (
        f'source {ROOT}/clients/sh/owt.sh; owt_call {owt_server.url} {path} \'{{"name": "sh"}}\''
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Hello, sh"


def test_a_json_body_saved_with_a_bom(owt_server: Any) -> None:
    body = '\ufeff{"code_b64": "' + b64(WINDOWS) + '", "kwargs": {"name": "body"}}'
    for headers in ({"content-type": "application/json"}, {}):
        r = httpx.post(owt_server.url + "/", content=body.encode(), headers=headers)
        assert r.status_code == 200, r.text
        assert r.text == "Hello, body"
