"""``clients/js/owt.js`` in Chromium, whose fetch fails in words of its own ("network error",
"Failed to fetch"): a cut body is still ``stream_failed``, an SSE body's ``event: error`` the
server's error, a request fetch cannot make a TypeError, and an item "[DONE]" data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, OwtProcess
from test_client_js import MIDWAY, SSE_MIDWAY

CHECKS = """async ([moduleUrl, midway, sseMidway]) => {
  const owt = await import(moduleUrl);
  const S = location.origin;
  const one = "def run(): return 1";
  const outcome = async (promise) => {
    try {
      return { value: await promise };
    } catch (error) {
      return { error: [error.name, error.kind ?? null, error.status ?? null, error.message] };
    }
  };
  const collect = async (iterable) => {
    const items = [];
    for await (const item of iterable) items.push(item);
    return items;
  };
  return {
    call: await outcome(owt.call(S, midway, { s: "x" })),
    endpoint: await outcome(owt.endpoint(S + "/midway", { s: "x" })),
    endpointGet: await outcome(owt.endpoint(S + "/midway", { s: "x" }, { method: "GET" })),
    stream: await outcome(collect(owt.stream(S, midway, { s: "x" }))),
    sseEndpoint: await outcome(owt.endpoint(S + "/sse-midway", { s: "x" })),
    sseStream: await outcome(collect(owt.stream(S, sseMidway, { s: "x" }))),
    events: await outcome(collect(owt.events(S, "def run():\\n    return sse(['x', '[DONE]'])"))),
    badHeader: await outcome(owt.call(S, one, {}, { headers: [["x-a", "a\\nb"]] })),
    badMethod: await outcome(owt.call(S, one, {}, { method: "GE T" })),
  };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwtProcess]:
    folder = tmp_path_factory.mktemp("adaptors")
    (folder / "midway.py").write_text(MIDWAY)
    (folder / "sse_midway.py").write_text("from owt.lib.stream import sse\n" + SSE_MIDWAY)
    module = f"def run():\n    return open({str(ROOT / 'clients/js/owt.js')!r}).read(), "
    module += "{'content-type': 'text/javascript'}\n"
    (folder / "module.py").write_text(module)
    (folder / "page.py").write_text("def run():\n    return '<!doctype html><title>js</title>'\n")
    mounts = ["midway", "sse_midway", "module", "page"]
    paths = {"sse_midway": "sse-midway", "module": "owt.js", "page": "page.html"}
    args = [f"--mount={paths.get(name, name)}={folder / name}.py" for name in mounts]
    server = OwtProcess("--timeout", "10", *args)
    yield server
    server.stop()


def test_owt_js_in_chromium_says_how_a_response_failed(server: OwtProcess, chromium: Any) -> None:
    page = chromium.new_page()
    try:
        page.goto(f"{server.url}/page.html")
        got = page.evaluate(CHECKS, ["/owt.js", MIDWAY, SSE_MIDWAY])
    finally:
        page.close()
    for road in ("call", "endpoint", "endpointGet", "stream"):
        name, kind, status, message = got[road]["error"]
        assert (name, kind, status) == ("OwtError", "stream_failed", 200), road
        assert "the server stopped, the connection was cut, or the adaptor failed" in message
    for road in ("sseEndpoint", "sseStream"):
        assert got[road]["error"][1:] == [
            "adaptor_error",
            200,
            "adaptor_error (200): ValueError: sse mid",
        ], road
    assert got["events"] == {"value": ["x", "[DONE]"]}
    name, kind, _, message = got["badHeader"]["error"]
    assert (name, kind) == ("TypeError", None)
    assert message.startswith("this request cannot be sent: "), message
    assert message.endswith("HTTP headers cannot carry)"), message
    name, kind, _, message = got["badMethod"]["error"]
    assert (name, kind) == ("TypeError", None)
    assert message.startswith("this request cannot be sent: "), message
