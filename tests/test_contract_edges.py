"""The contract at its edges (SPEC §2–4, §8): what real clients send, what every client can
parse. Each test is an input that a peer tool got wrong, with the answer owt must give."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
from conftest import b64

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
