"""The access log: one line per call with the request id the caller gets back."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from conftest import b64, call, wait_until

from owt.server.accesslog import valid_request_id
from owt.server.logwrite import BatchingHandler

FAIL = "def run():\n    raise ValueError('no luck')\n"
FAIL_STREAM = "def run():\n    yield 'one\\n'\n    raise ValueError('midway')\n"


def access_lines(server, request_id: str) -> list[str]:
    return [line for line in server.lines if "owt.access" in line and request_id in line]


def test_the_access_line_carries_the_request_id_of_the_response(start_server):
    server = start_server()
    r = call(server.url, "def run(name): return name", path="/hello", name="owt")
    request_id = r.headers["x-request-id"]
    assert r.text == "owt" and request_id
    assert wait_until(lambda: access_lines(server, request_id))
    (line,) = access_lines(server, request_id)
    sha8 = __import__("hashlib").sha256(b"def run(name): return name").hexdigest()[:8]
    assert f"{request_id} POST /hello 200 " in line
    assert f"env=main shape=whole code={sha8} bytes=3" in line
    # The documented shape, whether the line went through a log record or straight out.
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    pattern = rf"{stamp} INFO owt\.access: {request_id} POST /hello 200 \d+\.\dms env=main "
    assert re.fullmatch(pattern + rf"shape=whole code={sha8} bytes=3", line.strip()), line


def test_a_sane_caller_request_id_is_kept_and_a_bad_one_replaced(start_server):
    server = start_server()
    code = "def run(): return 1"
    mine = call(server.url, code, fields={}, timeout=10)
    assert mine.headers["x-request-id"] != ""
    kept = httpx.post(
        server.url, json={"code_b64": b64(code)}, headers={"x-request-id": "trace-42/a"}
    )
    assert kept.headers["x-request-id"] == "trace-42/a"
    for bad in ("has space", "x" * 200):
        replaced = httpx.post(
            server.url, json={"code_b64": b64(code)}, headers={"x-request-id": bad}
        )
        assert replaced.headers["x-request-id"] not in (bad, "")
    assert wait_until(lambda: access_lines(server, "trace-42/a"))


def test_query_strings_and_tokens_stay_out_of_the_log(start_server):
    server = start_server("--token", "sekrit-token")
    r = httpx.get(
        server.url + "/q",
        params={"code_b64": b64("def run(): return 'ok'"), "marker": "query-marker"},
        headers={"authorization": "Bearer sekrit-token"},
    )
    assert r.status_code == 200
    assert wait_until(lambda: access_lines(server, r.headers["x-request-id"]))
    assert "query-marker" not in server.log and "sekrit-token" not in server.log
    assert " GET /q 200 " in server.log


def test_debug_logs_the_query_string(start_server):
    server = start_server("-vv")
    r = httpx.get(server.url + "/q", params={"code_b64": b64("def run(): return 1"), "m": "qm"})
    assert wait_until(lambda: access_lines(server, r.headers["x-request-id"]))
    assert "m=qm" in access_lines(server, r.headers["x-request-id"])[0]


def test_a_token_in_a_query_is_never_logged_however_it_is_spelled(start_server):
    """At -vv the query is logged: a ?token= in it, its name percent-encoded or not, is taken
    out first (and used)."""
    server = start_server("-vv", "--token", "sekrit-token")
    code = b64("def run(): return 'ok'")
    for name in ("token", "%74oken", "%74%6F%6B%65%6E"):
        r = httpx.get(f"{server.url}/q?code_b64={code}&{name}=sekrit-token")
        assert r.text == "ok", (name, r.text)
        assert wait_until(lambda rid=r.headers["x-request-id"]: access_lines(server, rid))
    assert "sekrit-token" not in server.log


def test_a_failed_call_logs_its_traceback_with_the_request_id(start_server):
    server = start_server()
    r = call(server.url, FAIL)
    assert r.status_code == 500
    request_id = r.headers["x-request-id"]
    assert wait_until(lambda: "no luck" in server.log and access_lines(server, request_id))
    warning = server.log[server.log.index("WARNING") :]
    assert f"[{request_id}] call failed: adaptor_error: ValueError: no luck" in warning
    assert "raise ValueError" in warning


def test_a_stream_that_fails_midway_is_marked_incomplete(start_server):
    server = start_server()
    with httpx.stream("POST", server.url, json={"code_b64": b64(FAIL_STREAM)}) as r:
        request_id = r.headers["x-request-id"]
        try:
            r.read()
        except httpx.HTTPError:
            pass  # a failed stream ends without its final chunk
    assert wait_until(lambda: access_lines(server, request_id))
    (line,) = access_lines(server, request_id)
    # Its status went out as 200; the line and the metrics say what cut it.
    assert " 200 " in line and "shape=stream" in line
    assert line.endswith("incomplete error=adaptor_error")
    metrics = httpx.get(server.url + "/_owt/metrics").text
    assert 'owt_errors_total{env="main",kind="adaptor_error"} 1.0' in metrics


def test_a_method_that_is_no_call_is_logged_too(start_server):
    server = start_server()
    r = httpx.put(server.url + "/up", content=b"x")
    assert r.status_code == 405
    assert wait_until(lambda: access_lines(server, r.headers["x-request-id"]))
    (line,) = access_lines(server, r.headers["x-request-id"])
    assert "PUT /up 405 " in line and line.endswith("error=method_not_allowed")


def test_quiet_and_json(start_server):
    quiet = start_server("-q")
    r = call(quiet.url, "def run(): return 1")
    call(quiet.url, FAIL)
    assert wait_until(lambda: "no luck" in quiet.log)
    assert r.headers["x-request-id"] and "owt.access" not in quiet.log

    server = start_server("--log-format", "json")
    r = call(server.url, "def run(): return 'hi'", path="/j")
    request_id = r.headers["x-request-id"]
    assert wait_until(lambda: any(request_id in line for line in server.lines))
    records = [json.loads(line) for line in server.lines if line.startswith("{")]
    (access,) = [rec for rec in records if rec.get("request_id") == request_id]
    assert access["logger"] == "owt.access" and access["path"] == "/j"
    assert access["status"] == 200 and access["bytes"] == 2 and access["complete"] is True
    assert access["env"] == "main" and access["shape"] == "whole"


def test_an_error_carries_its_kind_in_the_line_and_the_metrics(start_server):
    server = start_server("--log-format", "json")
    r = call(server.url, FAIL, path="/fail")
    request_id = r.headers["x-request-id"]
    assert wait_until(lambda: any(request_id in line for line in server.lines))
    records = [json.loads(line) for line in server.lines if line.startswith("{")]
    (access,) = [rec for rec in records if rec.get("request_id") == request_id and "status" in rec]
    assert (access["status"], access["error"]) == (500, "adaptor_error")
    metrics = httpx.get(server.url + "/_owt/metrics").text
    assert 'owt_errors_total{env="main",kind="adaptor_error"} 1.0' in metrics
    ok = call(server.url, "def run(): return 'hi'", path="/ok")
    assert wait_until(lambda: any(ok.headers["x-request-id"] in line for line in server.lines))
    records = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert [rec["error"] for rec in records if rec.get("path") == "/ok"] == [None]


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["workers", "in_process"])
@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_call_whose_client_left_is_logged_499(start_server, mode, kind):
    """Its answer went to nobody: not a 200 (a `def` finished later), nor a 503 (an
    `async def` cancelled), but 499 as nginx logs it, and counted so."""
    server = start_server(*mode)
    sleep = "await asyncio.sleep(1)" if kind == "async def" else "time.sleep(1)"
    code = f"import asyncio, time\n{kind} run():\n    {sleep}\n    return 'late'\n"
    with pytest.raises(httpx.ReadTimeout):
        call(server.url, code, path="/left", timeout=0.3)
    assert wait_until(lambda: " POST /left " in server.log, timeout=5)
    (line,) = [line for line in server.lines if " POST /left " in line]
    assert " POST /left 499 " in line and "incomplete error=caller_gone" in line, line
    metrics = httpx.get(server.url + "/_owt/metrics").text
    assert 'owt_calls_total{env="main",shape="whole",status="499"} 1.0' in metrics


def test_a_workers_own_lines_are_json_too(start_server):
    server = start_server("--log-format", "json")
    code = "import logging\ndef run():\n    logging.getLogger('mine').warning('from the worker')\n"
    r = call(server.url, code)
    assert r.status_code == 200
    assert wait_until(lambda: "from the worker" in server.log)
    (line,) = [line for line in server.lines if "from the worker" in line]
    record = json.loads(line)  # not the text format
    assert (record["logger"], record["level"]) == ("mine", "WARNING")
    assert record["message"] == "from the worker" and record["pid"] != server.pid
    assert record["request_id"] == r.headers["x-request-id"]  # the call it was logged in


LOGS = {
    "def": "def run():\n    log.warning('said %s', 'def')\n    return 1\n",
    "async def": "async def run():\n    log.warning('said %s', 'async def')\n    return 1\n",
    "generator": "def run():\n    log.warning('said %s', 'generator')\n    yield 'x'\n",
}


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["workers", "in_process"])
def test_a_line_an_adaptor_logs_starts_with_its_calls_request_id(start_server, mode):
    """Wherever the code runs (a worker process, a thread or a loop of the server), a line it
    logs during a call names that call."""
    server = start_server(*mode)
    for kind, body in LOGS.items():
        r = call(server.url, "import logging\nlog = logging.getLogger('mine')\n" + body)
        assert r.status_code == 200, r.text
        request_id = r.headers["x-request-id"]
        said = f"said {kind}"
        assert wait_until(lambda said=said: any(line.endswith(said) for line in server.lines))
        (line,) = [line for line in server.lines if line.endswith(said)]
        assert f"[{request_id}] {said}" in line, line


def test_request_id_validation():
    assert valid_request_id(b"abc-123_/.:")
    assert not valid_request_id(b"")
    assert not valid_request_id(b"a b")
    assert not valid_request_id(b"\x00x")
    assert not valid_request_id(b"x" * 129)


def test_batching_handler_writes_lines_together(tmp_path):
    with (tmp_path / "log").open("w+") as out:
        handler = BatchingHandler(out, interval=0.05)
        handler.setFormatter(logging.Formatter("%(message)s"))
        for n in range(3):
            handler.emit(logging.LogRecord("x", logging.INFO, "", 0, "line %d", (n,), None))
        assert wait_until(lambda: (out.seek(0) or out.read()) == "line 0\nline 1\nline 2\n")
        handler.close()


def test_what_a_request_holds_cannot_forge_or_split_a_line(start_server):
    """A percent-encoded line break, a terminal escape or a space in the path stays inside
    its own field of its own line, as the request line carried it."""
    server = start_server("--no-install")
    code = "def run(): return 1"
    forged = "2026-12-02 07:00:00,000 INFO owt.access: forged GET /admin 200"
    paths = {
        "/a%0A" + forged.replace(" ", "%20"): "/a%0A" + forged.replace(" ", "%20"),
        "/x%1B%5B31mred": "/x%1B[31mred",
        "/p%20q/%C3%BC": "/p%20q/ü",
    }
    for sent, logged in paths.items():
        r = httpx.post(server.url + sent, json={"code_b64": b64(code)})
        request_id = r.headers["x-request-id"]
        assert wait_until(lambda rid=request_id: access_lines(server, rid))
        (line,) = access_lines(server, request_id)
        assert f" POST {logged} 200 " in line, line
    assert not any("forged" in line and "/a%0A" not in line for line in server.lines)
    assert "\x1b" not in server.log


def test_an_environment_the_server_lacks_is_no_label_of_its_own(start_server):
    """An env name a caller sends that the server lacks is ``-`` in the line and the metrics
    (a label per name sent would grow them without bound); a call that brings requirements
    is ``requirements`` until its set has run calls (then ``requirements:KEY``, as its
    workers)."""
    server = start_server("--no-install")
    code = "def run(): return 1"
    for env in ("junk-1", "junk-2", 'we"ird\nnl', "\ud800"):
        r = httpx.post(server.url, content=json.dumps({"code_b64": b64(code), "env": env}))
        assert (r.status_code, r.json()["error"]) == (400, "unknown_env"), r.text
        assert wait_until(lambda rid=r.headers["x-request-id"]: access_lines(server, rid))
        (line,) = access_lines(server, r.headers["x-request-id"])
        assert " env=- " in line and line.endswith("error=unknown_env")
    r = call(server.url, code, fields={"requirements": ["six"]})
    assert r.status_code == 400, r.text  # --no-install
    assert wait_until(lambda: access_lines(server, r.headers["x-request-id"]))
    (line,) = access_lines(server, r.headers["x-request-id"])
    assert " env=requirements " in line
    metrics = httpx.get(server.url + "/_owt/metrics").text
    assert 'kind="unknown_env"' in metrics and "junk" not in metrics and "ird" not in metrics


def test_a_refusal_before_any_call_is_logged_and_counted(start_server):
    """A 401 (no credentials) and a 403 (a foreign page) carry a request id, have their
    access line and count in the metrics by kind, as every answer does."""
    server = start_server("--token", "tok")
    r = httpx.post(server.url + "/x", json={"code_b64": b64("def run(): return 1")})
    assert r.status_code == 401 and r.headers["x-request-id"]
    assert wait_until(lambda: access_lines(server, r.headers["x-request-id"]))
    (line,) = access_lines(server, r.headers["x-request-id"])
    assert " POST /x 401 " in line and line.endswith("error=unauthorized")
    page = {"origin": "http://evil.example", "authorization": "Bearer tok"}
    r = httpx.post(server.url + "/x", json={"code_b64": b64("def run(): return 1")}, headers=page)
    assert r.status_code == 403 and r.headers["x-request-id"]
    assert wait_until(lambda: access_lines(server, r.headers["x-request-id"]))
    (line,) = access_lines(server, r.headers["x-request-id"])
    assert " POST /x 403 " in line and line.endswith("error=forbidden_origin")
    metrics = httpx.get(server.url + "/_owt/metrics", headers={"authorization": "Bearer tok"})
    assert 'owt_errors_total{env="-",kind="unauthorized"} 1.0' in metrics.text
    assert 'owt_errors_total{env="-",kind="forbidden_origin"} 1.0' in metrics.text


FORGED = "2026-12-02 07:00:00,000 INFO owt.access: forged GET /admin 200"


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["workers", "in_process"])
def test_text_a_caller_sends_into_a_message_stays_inside_its_entry(start_server, mode):
    """An exception message or a logged value holding a line break, a carriage return or a
    terminal escape: its entry's later lines are indented and its controls escaped, so no
    line of it passes for an entry of its own."""
    server = start_server(*mode)
    said = "import logging\ndef run(x):\n    logging.getLogger('m').warning('got %s', x)\n"
    raised = "def run(x):\n    raise ValueError(x)\n"
    for code in (said, raised):
        r = call(server.url, code, x=f"bad\r\x1b[2K\n{FORGED}")
        assert wait_until(lambda rid=r.headers["x-request-id"]: access_lines(server, rid))
    assert wait_until(lambda: sum(f"  {FORGED}" in line for line in server.lines) >= 2)
    assert not any(line.startswith(FORGED) for line in server.lines)
    assert "\x1b" not in server.log and "\r" not in server.log
