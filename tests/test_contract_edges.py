"""The contract at its edges (SPEC §2–4, §8): what real clients send, what every client can
parse. Each test is an input that a peer tool got wrong, with the answer owt must give."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest
from conftest import b64, call

UPPER = "def run(name: str) -> str: return name.upper()"


def _with_plus(code: str) -> tuple[str, str]:
    """``code`` padded with trailing comment text until its standard base64 holds a '+'."""
    for n in range(64):
        padded = code + "\n#" + "~" * n + "\n"
        text = base64.b64encode(padded.encode()).decode()
        if "+" in text:
            return padded, text
    raise AssertionError("no '+' found")


def test_unencoded_plus_in_a_query_is_read_as_plus(owt_server):
    _, text = _with_plus(UPPER)
    # The base64 goes into the URL as it is: the '+' arrives as a space.
    url = f"{owt_server.url}/?code_b64={text}&kwargs={quote(json.dumps({'name': 'owt'}))}"
    r = httpx.get(url)
    assert r.status_code == 200, r.text
    assert r.text == "OWT"


def test_unencoded_plus_in_kwargs_b64(owt_server):
    for n in range(64):
        args = json.dumps({"name": "owt", "pad": "~" * n + "?>"})
        text = base64.b64encode(args.encode()).decode()
        if "+" in text:
            break
    r = httpx.get(
        f"{owt_server.url}/?code_b64={quote(b64('def run(name, pad): return name'))}"
        f"&kwargs_b64={text}"
    )
    assert r.status_code == 200, r.text
    assert r.text == "owt"


ECHO_BODY = """
def run(request):
    return {"size": len(request.data), "first": request.data[:1].decode("latin-1"),
            "json": request.json}
"""


def test_a_binary_upload_opening_with_a_brace_is_data(owt_server):
    body = b"{\x00\x01\xff binary"
    r = httpx.post(
        owt_server.url + "/",
        params={"code_b64": b64(ECHO_BODY)},
        content=body,
        headers={"content-type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"size": len(body), "first": "{", "json": None}


def test_a_text_upload_that_looks_like_json_is_data(owt_server):
    body = b'{"code_b64": "not a field here"}'
    r = httpx.post(
        owt_server.url + "/",
        params={"code_b64": b64(ECHO_BODY)},
        content=body,
        headers={"content-type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"size": len(body), "first": "{", "json": None}


def test_binary_data_sent_as_curls_default_form_is_data_and_stalls_nothing(owt_server):
    # curl --data-binary @file labels any file a URL-encoded form: bytes that no form is
    # (not ASCII) are the adaptor's data, not parsed into fields on the server's loop
    # (15 MB of random bytes held /_owt/health for 3.6 s).
    body = bytes(range(256)) * (4 * 4096)  # 4 MiB, every byte value
    form = {"content-type": "application/x-www-form-urlencoded"}
    code = b64("def run(request):\n    return [len(request.data), len(request.form)]\n")
    r = httpx.post(owt_server.url + "/", params={"code_b64": code}, content=body, headers=form)
    assert r.status_code == 200, r.text
    assert r.json() == [len(body), 0]


def test_a_form_in_utf8_as_curl_d_sends_it_keeps_its_fields(owt_server):
    form = {"content-type": "application/x-www-form-urlencoded"}
    code = b64("def run(request):\n    return request.form['name']\n")
    r = httpx.post(
        owt_server.url + "/",
        params={"code_b64": code},
        content="name=José 🎉".encode(),
        headers=form,
    )
    assert r.text == "José 🎉"


def test_a_form_of_more_fields_than_any_form_needs_is_a_400(owt_server):
    form = {"content-type": "application/x-www-form-urlencoded"}
    code = b64("def run(request):\n    return len(request.form)\n")
    fields = "&".join(f"f{i}=1" for i in range(1000))
    r = httpx.post(owt_server.url + "/", params={"code_b64": code}, content=fields, headers=form)
    assert r.json() == 1000
    r = httpx.post(
        owt_server.url + "/", params={"code_b64": code}, content=fields + "&one=more", headers=form
    )
    assert r.status_code == 400
    assert r.json()["field"] == "body" and "more than 1000 fields" in r.json()["message"]


def test_json_types_are_call_fields(owt_server):
    body = json.dumps({"code_b64": b64(UPPER), "kwargs": {"name": "owt"}})
    for ctype in ("application/json", "application/vnd.api+json; charset=utf-8", None):
        headers = {"content-type": ctype} if ctype else {}
        r = httpx.post(owt_server.url + "/", content=body, headers=headers)
        assert r.status_code == 200, (ctype, r.text)
        assert r.text == "OWT"


def test_curl_d_with_a_json_body_still_works(owt_server):
    body = json.dumps({"code_b64": b64(UPPER), "kwargs": {"name": "owt"}})
    headers = {"content-type": "application/x-www-form-urlencoded"}
    r = httpx.post(owt_server.url + "/", content=body, headers=headers)
    assert r.text == "OWT"


def test_a_json_body_broken_by_wrapped_base64_says_so(owt_server):
    code = base64.encodebytes(("# padding\n" * 10 + UPPER).encode()).decode()  # 76 columns
    body = '{"code_b64": "' + code + '", "kwargs": {"name": "owt"}}'
    r = httpx.post(owt_server.url + "/", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    message = r.json()["message"]
    assert "base64" in message and "-w0" in message and "tr -d" in message


def test_arguments_beside_kwargs_are_named(owt_server):
    r = httpx.post(owt_server.url + "/", json={"code_b64": b64(UPPER), "name": "owt"})
    assert r.status_code == 400
    message = r.json()["message"]
    assert "'name'" in message and "outside kwargs" in message
    r = httpx.get(owt_server.url + "/", params={"code_b64": b64(UPPER), "name": "owt"})
    assert "outside kwargs" in r.json()["message"]


# -- every JSON body is RFC 8259 JSON (NaN and infinities are written as null) -----------

NAN = 'def run():\n    return {"score": float("nan"), "hi": float("inf"), "lo": -float("inf")}\n'
STRICT = {"score": None, "hi": None, "lo": None}


def strict_json(text: str) -> object:
    """Parse as JSON.parse would: NaN, Infinity and -Infinity are errors."""

    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinity_are_null(owt_server):
    r = call(owt_server.url, NAN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert strict_json(r.text) == STRICT


def test_nan_in_dataclasses_numpy_like_and_keys(owt_server):
    code = """
import dataclasses

@dataclasses.dataclass
class Point:
    x: float

class Array:
    def tolist(self):
        return [1.0, float("nan")]

def run():
    return {"p": Point(float("-inf")), "a": Array(), "t": (float("nan"),), float("nan"): 1}
"""
    r = call(owt_server.url, code)
    assert r.status_code == 200, r.text
    assert strict_json(r.text) == {"p": {"x": None}, "a": [1.0, None], "t": [None], "NaN": 1}


def test_nan_in_ndjson_stream(owt_server):
    code = "def run():\n    yield {'a': float('nan')}\n    yield [float('inf'), 2.5]\n"
    r = call(owt_server.url, code)
    assert r.headers["content-type"] == "application/x-ndjson"
    assert [strict_json(line) for line in r.text.splitlines()] == [{"a": None}, [None, 2.5]]


def test_nan_in_sse_data(owt_server):
    code = "def run():\n    return sse([{'a': float('nan')}, float('inf')])\n"
    r = call(owt_server.url, code)
    data = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert [strict_json(d) for d in data[:-1]] == [{"a": None}, None]
    assert data[-1] == "[DONE]"


def test_nan_in_summat_json_out(owt_server):
    r = call(owt_server.url, "pipe().const({'x': float('nan')}).json_out()")
    assert r.status_code == 200, r.text
    assert strict_json(r.text) == {"x": None}


def test_nan_in_a_cached_replay(owt_server):
    fields = {"use_cache": True, "cache_key_override": "contract-nan"}
    first = call(owt_server.url, NAN, fields=fields)
    again = call(owt_server.url, NAN, fields=fields)
    assert first.headers.get("x-owt-cache") != "hit"
    assert again.headers.get("x-owt-cache") == "hit"
    assert strict_json(again.text) == STRICT


def test_nan_in_an_error_body(owt_server):
    code = "def run():\n    raise ValueError(float('nan'))\n"
    r = call(owt_server.url, code)
    assert r.status_code == 500
    assert strict_json(r.text)["error"] == "adaptor_error"


# -- a page is a page, however it is indented ---------------------------------------------


def test_indented_doctype_is_html(owt_server):
    page = "\n\n        <!doctype html>\n<html><body>hi</body></html>"
    for code in (
        f"def run():\n    return {page!r}\n",
        f"def run():\n    yield {page!r}\n    yield '<p>more</p>'\n",
        f"def run():\n    return {(' ' * 40 + '<HTML><body>x</body></HTML>')!r}\n",
        f"def run():\n    return {chr(0xFEFF) + '<!DOCTYPE html><p>bom'!r}\n",
    ):
        r = call(owt_server.url, code)
        assert r.headers["content-type"] == "text/html; charset=utf-8", code
    r = call(owt_server.url, "def run():\n    return '   not <html> at the start'\n")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


# -- an adaptor's status and headers are checked before anything is sent ------------------


def _bad_head(url: str, code: str, query: str = "") -> dict:
    r = httpx.post(f"{url}/{query}", json={"code_b64": b64(code)})
    assert r.status_code == 500, r.text
    assert "set-cookie" not in r.headers
    body = r.json()
    assert body["error"] == "adaptor_error"
    return body


def test_a_header_with_crlf_from_the_request_is_the_adaptors_error(owt_server):
    code = 'def run(request):\n    return "hi", {"X-Name": request.args["n"]}\n'
    body = _bad_head(owt_server.url, code, "?n=a%0D%0ASet-Cookie:%20owt=evil")
    assert body["header"] == "X-Name"
    assert "X-Name" in body["message"] and "line break" in body["message"]


@pytest.mark.parametrize(
    "headers",
    [
        "{'x-big': 'v' * 50_000}",
        "{f'x-{i}': 'v' for i in range(20_000)}",
        "{'x': 'v' * 16_000}",  # with owt's own headers, past what Node reads
    ],
    ids=["one_large", "many", "near_16k"],
)
def test_headers_no_client_could_read_are_the_adaptors_error(owt_server, headers):
    body = _bad_head(owt_server.url, f'def run():\n    return "hi", {headers}\n')
    assert "over the 15360" in body["message"] and "body" in body["message"]


def test_a_status_of_600_is_the_adaptors_error(owt_server):
    body = _bad_head(owt_server.url, 'def run():\n    return "hi", 600\n')
    assert body["status"] == 600 and "600" in body["message"]


def test_other_bad_heads(owt_server):
    cases = {
        'def run():\n    return "hi", 99\n': "99",
        'def run():\n    return Response("hi", "teapot")\n': "'teapot'",
        'def run():\n    return "hi", {"X-Bad Name": "1"}\n': "X-Bad Name",
        'def run():\n    return "hi", {"X-Nul": "a\\x00b"}\n': "X-Nul",
        'def run():\n    return "hi", {"X-Lf": "a\\nb"}\n': "X-Lf",
        'def run():\n    return "hi", {"X-Name": "名前"}\n': "X-Name",
        'def run():\n    return "hi", {"Content-Length": "100"}\n': "Content-Length",
        'def run():\n    return "hi", {"Transfer-Encoding": "chunked"}\n': "Transfer-Encoding",
        'def run():\n    return "hi", 204\n': "204",
        'def run():\n    return (c for c in "ab"), {"Content-Length": "2"}\n': "Content-Length",
    }
    for code, named in cases.items():
        body = _bad_head(owt_server.url, code)
        assert named in body["message"], (code, body)


def test_a_bad_head_from_a_stream_or_async_code(owt_server):
    code = 'async def run():\n    return (c async for c in _gen()), {"X-A": "1\\r\\n"}\n'
    code += "async def _gen():\n    yield 'a'\n"
    body = _bad_head(owt_server.url, code)
    assert body["header"] == "X-A"
    code = 'def run():\n    return (c for c in "ab"), 700\n'
    assert _bad_head(owt_server.url, code)["status"] == 700


def test_good_heads_pass(owt_server):
    code = "def run():\n    return Response('', 204, {'X-Ok': 'café; tab\\tok'})\n"
    r = httpx.post(owt_server.url + "/", json={"code_b64": b64(code)})
    assert r.status_code == 204 and r.headers["x-ok"] == "café; tab\tok"
    code = "def run():\n    return 'four', {'Content-Length': '4', 'X-Owt': 'yes'}\n"
    r = httpx.post(owt_server.url + "/", json={"code_b64": b64(code)})
    assert r.status_code == 200 and r.text == "four" and r.headers["x-owt"] == "yes"


# -- streamed responses tell browsers not to sniff (so a tab shows chunks as they come) ----


def test_streamed_responses_are_nosniff(owt_server):
    code = "def run():\n    yield 'one '\n    yield 'two'\n"
    fields = {"use_cache": True, "cache_key_override": "contract-nosniff"}
    for _ in range(2):  # run, then replayed from the cache
        r = call(owt_server.url, code, fields=fields)
        assert r.text == "one two"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers.get("x-owt-cache") == "hit"
    r = call(owt_server.url, "def run():\n    return sse(['a'])\n")
    assert r.headers["x-content-type-options"] == "nosniff"
    code = "def run():\n    return (c for c in 'ab'), {'X-Content-Type-Options': 'nosniff'}\n"
    r = call(owt_server.url, code)
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]


# -- CORS keeps the headers an adaptor exposes ---------------------------------------------

EXPOSING = """
def run():
    return "pcm", {"X-Sample-Rate": "24000", "Access-Control-Expose-Headers": "X-Sample-Rate"}
"""


def test_cors_merges_the_adaptors_exposed_headers(start_server):
    server = start_server("--cors", "*", "--insecure")
    origin = {"origin": "http://page.example"}
    r = httpx.post(server.url + "/", json={"code_b64": b64(EXPOSING)}, headers=origin)
    assert r.status_code == 200, r.text
    exposed = [n.strip().lower() for n in r.headers["access-control-expose-headers"].split(",")]
    assert sorted(exposed) == ["x-owt-cache", "x-request-id", "x-sample-rate"]
    assert r.headers.get_list("access-control-expose-headers") == [
        r.headers["access-control-expose-headers"]
    ]
    r = httpx.post(server.url + "/", json={"code_b64": b64("def run(): return 1")}, headers=origin)
    assert r.headers["access-control-expose-headers"] == "x-owt-cache, x-request-id"
    r = httpx.post(server.url + "/", json={"code_b64": b64(EXPOSING)})  # no Origin: not CORS
    assert r.headers["access-control-expose-headers"] == "X-Sample-Rate"


# -- sse(): one event per item, ids, and a finished stream stays finished -----------------


def parse_events(text: str) -> list[dict[str, str]]:
    """Events as a browser's EventSource parses them (line breaks: CRLF, CR or LF)."""
    events: list[dict[str, str]] = []
    data: list[str] = []
    fields: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if data:
                events.append({**fields, "data": "\n".join(data)})
            data, fields = [], {}
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name in ("id", "event"):
            fields[name] = value
    return events


def test_sse_keeps_one_item_one_event_whatever_its_line_breaks(owt_server):
    r = call(owt_server.url, 'def run():\n    return sse(["Left\\r\\rdata: Right", "one\\rtwo"])\n')
    events = parse_events(r.text)
    assert [e["data"] for e in events] == ["Left\n\ndata: Right", "one\ntwo", "[DONE]"]
    assert [e["id"] for e in events] == ["1", "2", "[DONE]"]


def test_an_sse_item_is_the_json_its_whole_result_would_be(owt_server):
    # A set, a tuple, bytes: a whole result encoded them; an sse() item was a 500.
    value = "{'tags': {1}, 'pair': (1, 2), 'raw': b'xyz'}"
    whole = call(owt_server.url, f"def run():\n    return {value}\n").json()
    assert whole == {"tags": [1], "pair": [1, 2], "raw": "eHl6"}
    r = call(owt_server.url, f"def run():\n    return sse([{value}])\n")
    assert r.status_code == 200, r.text
    assert json.loads(parse_events(r.text)[0]["data"]) == whole


def test_sse_async_items_have_ids_too(owt_server):
    code = "async def items():\n    yield 'a\\r\\nb'\n    yield {'n': 1}\n"
    code += "def run():\n    return sse(items())\n"
    events = parse_events(call(owt_server.url, code).text)
    assert events == [
        {"id": "1", "data": "a\nb"},
        {"id": "2", "data": '{"n": 1}'},
        {"id": "[DONE]", "data": "[DONE]"},
    ]


def test_a_reconnect_to_a_finished_stream_is_204(owt_server):
    code = "import time\ndef run():\n    time.sleep(0)\n    return sse(['x'])\n"
    params = {"code_b64": b64(code)}
    r = httpx.get(owt_server.url + "/", params=params, headers={"Last-Event-ID": "[DONE]"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["x-request-id"]  # an answer like any other: logged, counted, named
    # A reconnect after a broken stream (a numeric id) runs the adaptor again.
    r = httpx.get(owt_server.url + "/", params=params, headers={"Last-Event-ID": "1"})
    assert r.status_code == 200 and parse_events(r.text)[-1]["data"] == "[DONE]"


def test_a_reconnect_midway_resumes_where_the_adaptor_says_it_can(owt_server):
    # sse() cannot know whether its items repeat: it sends them all again, from id 1.
    plain = {"code_b64": b64("def run():\n    return sse(['a', 'b', 'c'])\n")}
    r = httpx.get(owt_server.url + "/", params=plain, headers={"Last-Event-ID": "2"})
    assert [e["id"] for e in parse_events(r.text)] == ["1", "2", "3", "[DONE]"]
    # An adaptor whose items do repeat skips what the client has, and numbers on.
    code = (
        "from owt.lib.stream import last_event_id\n"
        "def run():\n    done = last_event_id()\n"
        "    return sse(['a', 'b', 'c'][done:], first_id=done + 1)\n"
    )
    params = {"code_b64": b64(code)}
    r = httpx.get(owt_server.url + "/", params=params, headers={"Last-Event-ID": "2"})
    assert parse_events(r.text) == [
        {"id": "3", "data": "c"},
        {"id": "[DONE]", "data": "[DONE]"},
    ]
    first = parse_events(httpx.get(owt_server.url + "/", params=params).text)
    assert [e["data"] for e in first] == ["a", "b", "c", "[DONE]"]


def test_owts_own_routes_write_strict_json(start_server, tmp_path):
    (tmp_path / "inf.py").write_text(
        "def run(x: float = 1e999, y: float = -1e999):\n    return x\n"
    )
    server = start_server("--mount", f"inf={tmp_path / 'inf.py'}")
    r = httpx.get(server.url + "/_owt/openapi.json")
    assert r.status_code == 200, r.text
    strict_json(r.text)
    code = b64("def run(x): return [x]")
    body = '{"code_b64": "' + code + '", "kwargs": {"x": NaN}}'  # Python's json reads NaN
    headers = {"content-type": "application/json"}
    r = httpx.put(server.url + "/_owt/endpoints/nan", content=body, headers=headers)
    assert r.status_code == 201, r.text
    assert strict_json(r.text)["kwargs"] == {"x": None}
    assert strict_json(httpx.get(server.url + "/_owt/endpoints/nan").text)["kwargs"] == {"x": None}
    assert strict_json(httpx.get(server.url + "/nan").text) == [None]
    assert strict_json(httpx.post(server.url + "/", content=body, headers=headers).text) == [None]


LONE = "'\\ud800'"  # Python source of a str holding a lone surrogate
SURROGATES = {
    # what was sent: (code, fields) -> (status, error kind or None for success)
    "raised": (f"def run():\n    raise ValueError({LONE})\n", {}, 500, "adaptor_error"),
    "argument": ("def run(x):\n    return {'got': x}\n", {"kwargs": {"x": "\ud800"}}, 200, None),
    "requirement": ("def run(): return 1", {"requirements": ["\ud800"]}, 400, "bad_request"),
    "json": (f"def run():\n    return {{{LONE}: [{LONE}]}}\n", {}, 200, None),
    "ndjson": (f"def run():\n    yield {{'a': {LONE}}}\n", {}, 200, None),
    "text": (f"def run():\n    return 'ok ' + {LONE}\n", {}, 500, "adaptor_error"),
}


@pytest.mark.parametrize("name", list(SURROGATES))
def test_text_utf8_cannot_hold_is_a_json_answer_never_a_crash(owt_server, name) -> None:
    """A lone surrogate (as a caller's JSON "\\ud800" or bytes decoded with surrogateescape
    give) in an error, an argument or a JSON result is written as its JSON escape; text that
    UTF-8 cannot hold is the adaptor's error, saying why. Never a plain-text 500."""
    code, fields, status, kind = SURROGATES[name]
    body = json.dumps({"code_b64": b64(code), **fields})  # ensure_ascii: "\ud800" escaped
    r = httpx.post(owt_server.url, content=body, timeout=30)
    assert r.status_code == status, r.text
    answer = r.json() if "json" in r.headers["content-type"] else None
    if kind is not None:
        assert answer["error"] == kind, answer
    if name == "raised":
        assert "\ud800" in answer["message"]
    elif name == "json":
        assert answer == {"\ud800": ["\ud800"]}
    elif name == "argument":
        assert answer == {"got": "\ud800"}
    elif name == "ndjson":
        assert [json.loads(line) for line in r.text.splitlines()] == [{"a": "\ud800"}]
    elif name == "text":
        assert "lone surrogate" in answer["message"] and "errors='replace'" in answer["message"]
    elif name == "requirement":
        assert answer["field"] == "requirements"


def test_a_field_sent_as_null_is_a_field_left_out(owt_server) -> None:
    """Clients generated from the OpenAPI document send an option they were not given as
    null: every field takes it as left out, the booleans too."""
    fields = dict.fromkeys(
        ("use_cache", "cache_kwargs", "rebuild", "timeout", "cache_key_override", "env"), None
    )
    r = call(owt_server.url, "def run(n): return n + 1", fields=fields, n=1)
    assert (r.status_code, r.text) == (200, "2")
    assert "x-owt-cache" not in r.headers  # use_cache: null is not a cached call
