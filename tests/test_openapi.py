"""``/_owt/openapi.json`` validates as OpenAPI 3.1 and lists each endpoint's typed parameters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import OwtProcess, b64
from openapi_spec_validator import validate

from owt.core.call import CALL_FIELDS

TYPED = """
from typing import Literal, Optional

def run(request, text: str, n: int = 2, ratio: float = 0.5, loud: bool = False,
        tags: list[str] | None = None, voice: Literal["a", "b"] = "a",
        limit: Optional[int] = None, *, opts: dict = {}) -> dict:
    return {}
"""
PIPE = 'pipe().kwarg("x").f(str.upper)'


#: The call's own options a request to an endpoint may send beside its arguments.
OPTIONS = {"timeout", "use_cache", "cache_kwargs", "cache_key_override"}


def arguments(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """An endpoint's query parameters that carry its function's arguments."""
    return [p for p in operation["parameters"] if p["name"] not in OPTIONS]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp("openapi")
    (folder / "typed.py").write_text(TYPED)
    (folder / "piped.py").write_text(PIPE)
    (folder / "broken.py").write_text("def run(:\n")
    server = OwtProcess(
        *("--mount", f"typed={folder / 'typed.py'}"),
        *("--mount", f"piped={folder / 'piped.py'}"),
        *("--mount", f"broken={folder / 'broken.py'}"),
        *("--token", "secret"),
    )
    yield server
    server.stop()


@contextlib.contextmanager
def registered(server: Any, name: str, code: str) -> Iterator[None]:
    """``code`` registered as the endpoint ``/NAME`` for the block, removed after it."""
    auth = {"authorization": "Bearer secret"}
    r = httpx.put(f"{server.url}/_owt/endpoints/{name}", json={"code_b64": b64(code)}, headers=auth)
    assert r.status_code == 201, r.text
    try:
        yield
    finally:
        httpx.delete(f"{server.url}/_owt/endpoints/{name}", headers=auth)


def fetch(server: Any) -> dict[str, Any]:
    r = httpx.get(server.url + "/_owt/openapi.json", headers={"authorization": "Bearer secret"})
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    validate(document)
    return document


def test_document_validates_and_describes_the_generic_call(server: Any) -> None:
    document = fetch(server)
    assert document["openapi"].startswith("3.1")
    generic = document["paths"]["/{path}"]
    (query,) = generic["get"]["parameters"]  # the fields, one exploded object
    assert (query["in"], query["style"], query["explode"]) == ("query", "form", True)
    names = set(query["schema"]["properties"])
    # Every field the server reads is documented (kwargs goes in the body; the Ray fields
    # only with --executor ray), and the code comes one of two ways.
    ray = {"num_cpus", "num_gpus", "memory", "accelerator_type", "resources"}
    assert CALL_FIELDS - {"kwargs"} - ray <= names and not names & ray
    assert query["schema"]["anyOf"] == [{"required": ["code_b64"]}, {"required": ["code_sha256"]}]
    call = document["components"]["schemas"]["Call"]
    assert call["anyOf"] == query["schema"]["anyOf"] and "kwargs" in call["properties"]
    assert set(generic) >= {"get", "post"} and not set(generic) & {"put", "delete", "trace"}
    assert document["security"] == [{"bearer": []}]


def test_endpoint_parameters_come_from_type_hints(server: Any) -> None:
    item = fetch(server)["paths"]["/typed"]
    params = {p["name"]: p for p in arguments(item["get"])}
    assert list(params) == ["text", "n", "ratio", "loud", "tags", "voice", "limit", "opts"]
    assert params["text"]["required"] is True
    assert params["text"]["schema"] == {"type": "string"}
    assert params["n"]["required"] is False
    # A query value is text: the schema says which text the server reads as the type.
    assert params["n"]["schema"]["anyOf"][0] == {"type": "integer"}
    assert params["n"]["schema"]["default"] == 2
    assert params["ratio"]["schema"]["type"] == "string" and "pattern" in params["ratio"]["schema"]
    assert params["loud"]["schema"]["anyOf"][0] == {"type": "boolean"}
    tags = params["tags"]["schema"]["anyOf"][0]["anyOf"]  # a list, or one value (a list of one)
    assert tags == [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
    assert params["voice"]["schema"]["enum"] == ["a", "b"]
    limit = params["limit"]["schema"]["anyOf"]
    assert limit[0]["anyOf"][0] == {"type": "integer"} and limit[1] == {"type": "null"}
    assert "content" in params["opts"]  # an object travels as JSON text
    body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["text"]
    assert body["properties"]["n"]["anyOf"][0] == {"type": "integer"}
    assert item["post"]["requestBody"]["required"] is True
    assert "application/json" in item["get"]["responses"]["200"]["content"]


def test_expression_adaptors_and_registered_endpoints_are_listed(server: Any) -> None:
    code = "def run(a: int, b: int = 1) -> int:\n    return a + b\n"
    r = httpx.put(
        server.url + "/_owt/endpoints/add",
        json={"code_b64": b64(code), "kwargs": {"a": 1}},
        headers={"authorization": "Bearer secret"},
    )
    assert r.status_code == 201, r.text
    paths = fetch(server)["paths"]
    (x,) = arguments(paths["/piped"]["get"])  # the argument its kwarg("x") step reads
    assert (x["name"], x["required"]) == ("x", True)
    params = {p["name"]: p for p in arguments(paths["/add"]["get"])}
    assert params["a"]["required"] is False  # the registration gives it a default
    assert paths["/add"]["get"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }


BATCHED = """
@batch(max_size=8, max_wait_ms=5)
def run(texts: list[str]) -> list[list[float]]:
    return [[float(len(t))] for t in texts]
"""


def test_a_batched_endpoint_is_documented_as_each_caller_calls_it(server: Any) -> None:
    auth = {"authorization": "Bearer secret"}
    r = httpx.put(
        server.url + "/_owt/endpoints/lengths", json={"code_b64": b64(BATCHED)}, headers=auth
    )
    assert r.status_code == 201, r.text
    item = fetch(server)["paths"]["/lengths"]
    (param,) = arguments(item["get"])
    assert (param["name"], param["schema"]) == ("texts", {"type": "string"})  # one item
    result = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert result == {"type": "array", "items": {"type": "number"}}  # its own result
    r = httpx.get(server.url + "/lengths", params={"texts": "four"}, headers=auth)
    assert r.json() == [4.0]  # a call as the document says


def test_arguments_named_like_call_fields_are_documented_inside_kwargs(server: Any) -> None:
    code = "def run(url: str, timeout: float = 1.0, env: str = 'dev') -> list:\n"
    code += "    return [url, timeout, env]\n"
    auth = {"authorization": "Bearer secret"}
    with registered(server, "fetch", code):
        item = fetch(server)["paths"]["/fetch"]
        params = {p["name"]: p for p in arguments(item["get"])}
        # as plain parameters, timeout and env would be the call's own fields
        assert list(params) == ["url", "kwargs_b64"]
        assert set(params["kwargs_b64"]["schema"]["contentSchema"]["properties"]) == {
            "timeout",
            "env",
        }
        content = item["post"]["requestBody"]["content"]
        body = content["application/json"]["schema"]
        assert set(body["properties"]) == {"url", "kwargs", *OPTIONS}
        assert set(body["properties"]["kwargs"]["properties"]) == {"timeout", "env"}
        form = content["application/x-www-form-urlencoded"]["schema"]
        assert set(form["properties"]) == {"url", "kwargs_b64", *OPTIONS}
        # typed callers (owt codegen) still see the function's own parameters
        assert set(item["post"]["x-owt-parameters"]) == {"url", "timeout", "env"}
        # and the document says what works: the arguments reach the function
        query = {"url": "u", "kwargs_b64": b64('{"timeout": 2.5, "env": "prod"}')}
        r = httpx.get(server.url + "/fetch", params=query, headers=auth)
        assert r.json() == ["u", 2.5, "prod"], r.text


def test_a_broken_mount_leaves_the_document_valid(server: Any) -> None:
    paths = fetch(server)["paths"]  # fetch validates
    assert arguments(paths["/broken"]["get"]) == []
    assert "does not compile now" in paths["/broken"]["description"]
    assert "its kwarg() and kwargs() steps read" in paths["/piped"]["description"]


def test_an_endpoints_own_options_and_multipart_are_documented(server: Any) -> None:
    """What the server takes at an endpoint beside its arguments is in its document."""
    item = fetch(server)["paths"]["/typed"]
    assert "(cache_key_override, cache_kwargs, timeout, use_cache;" in item["description"]
    content = item["post"]["requestBody"]["content"]
    assert set(content) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    auth = {"authorization": "Bearer secret"}
    r = httpx.get(server.url + "/typed", params={"text": "t", "timeout": "0.001"}, headers=auth)
    assert r.status_code in (200, 504)  # the call's own timeout, as documented
    r = httpx.post(server.url + "/typed", files={"text": (None, "t")}, headers=auth)
    assert r.status_code == 200, r.text  # multipart, as documented


def test_an_endpoints_schemas_take_the_options_the_server_takes(server: Any) -> None:
    """A client that validates against the document (or is generated from it) may send an
    endpoint's options beside its arguments: its schemas are closed to anything else."""
    auth = {"authorization": "Bearer secret"}
    code = "def run(text: str, n: int = 1) -> str:\n    return text * n\n"
    with registered(server, "closed", code):
        item = fetch(server)["paths"]["/closed"]
        query = {p["name"]: p for p in item["get"]["parameters"]}
        assert set(query) >= OPTIONS and not any(query[name]["required"] for name in OPTIONS)
        marked = {name for name, p in query.items() if p.get("x-owt-option")}
        assert marked == OPTIONS  # a form tells them from the arguments by this mark
        assert query["timeout"]["schema"]["type"] == "number"
        content = item["post"]["requestBody"]["content"]
        sent = {"text": "t", "n": 2, "timeout": 5, "use_cache": True, "cache_kwargs": "yes"}
        for kind in (
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            schema = content[kind]["schema"]
            assert schema["additionalProperties"] is False
            jsonschema.validate(sent, schema)
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate({**sent, "tiemout": 5}, schema)
        r = httpx.post(server.url + "/closed", json=sent, headers=auth)
        assert r.text == "tt"  # and the server takes what the document describes


def test_other_methods_are_405_with_allow(server: Any) -> None:
    auth = {"authorization": "Bearer secret"}
    for path in ("/typed", "/", "/any/where"):
        for method in ("TRACE", "PUT", "DELETE", "PATCH"):
            r = httpx.request(method, server.url + path, headers=auth)
            assert r.status_code == 405, (method, path, r.text)
            assert r.json()["error"] == "method_not_allowed"
            assert r.headers["allow"] == "GET, HEAD, POST"
            # An upload by curl -T (a PUT) is told how to send it as a call.
            assert ("-X POST" in r.json()["message"]) is (method == "PUT")


def test_array_results_offer_npy(server: Any) -> None:
    code = "def run(n: int) -> list[float]:\n    return [0.5] * n\n"
    r = httpx.put(
        server.url + "/_owt/endpoints/vec",
        json={"code_b64": b64(code)},
        headers={"authorization": "Bearer secret"},
    )
    assert r.status_code in (200, 201), r.text
    ok = fetch(server)["paths"]["/vec"]["get"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "application/x-npy"}


def test_record_and_mapping_schemas_refuse_what_the_server_refuses(server: Any) -> None:
    """A record's unknown field and a mapping's wrong value are 400s: the document says so,
    and still takes the text forms of numbers the conversion reads."""
    code = (
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Box:\n    width: int\n    label: str = ''\n"
        "def run(box: Box, counts: dict[str, int]) -> int:\n"
        "    return box.width + sum(counts.values())\n"
    )
    auth = {"authorization": "Bearer secret"}
    with registered(server, "boxes", code):
        body = fetch(server)["paths"]["/boxes"]["post"]["requestBody"]["content"]
        schema = body["application/json"]["schema"]
        good = {"box": {"width": "2"}, "counts": {"a": 1, "b": "3"}}
        jsonschema.validate(good, schema)
        r = httpx.post(server.url + "/boxes", json=good, headers=auth)
        assert r.text == "6", r.text
        for bad in (
            {"box": {"width": 1, "zz": 2}, "counts": {}},
            {"box": {"width": 1}, "counts": {"a": "x"}},
        ):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, schema)
            r = httpx.post(server.url + "/boxes", json=bad, headers=auth)
            assert r.status_code == 400, r.text
        assert "key 'a': an integer expected" in r.json()["message"]  # which value, and why


def test_a_record_or_none_in_the_query_is_json_text(server: Any) -> None:
    """A ``Box | None`` query parameter is documented as JSON text like a ``Box`` (its
    fields kept), and the JSON text ``null`` is None, as are an empty value and no value."""
    code = (
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Box:\n    width: int\n"
        "def run(a: Box, b: Box | None) -> int:\n"
        "    return a.width + (b.width if b else 100)\n"
    )
    auth = {"authorization": "Bearer secret"}
    with registered(server, "maybebox", code):
        params = {p["name"]: p for p in arguments(fetch(server)["paths"]["/maybebox"]["get"])}
        schema = params["b"]["content"]["application/json"]["schema"]
        assert params["a"]["content"]["application/json"]["schema"] in schema["anyOf"]
        assert {"type": "null"} in schema["anyOf"]
        for text, result in (('{"width": 2}', "3"), ("null", "101"), ("", "101")):
            jsonschema.validate(None if text in ("null", "") else {"width": 2}, schema)
            query = {"a": '{"width": 1}', "b": text}
            r = httpx.get(server.url + "/maybebox", params=query, headers=auth)
            assert r.text == result, (text, r.text)
        r = httpx.get(server.url + "/maybebox", params={"a": "null", "b": ""}, headers=auth)
        assert r.status_code == 400 and "expects a Box object" in r.json()["message"]


def test_a_lambda_endpoints_parameters_are_documented(server: Any) -> None:
    """An endpoint whose code is one lambda has its parameters too (typed by their defaults),
    so a generated client can pass them."""
    auth = {"authorization": "Bearer secret"}
    code = "lambda name, times=2: name.upper() * times"
    with registered(server, "lam", code):
        item = fetch(server)["paths"]["/lam"]
        params = {p["name"]: p for p in arguments(item["get"])}
        assert set(params) == {"name", "times"} and params["name"]["required"] is True
        assert item["post"]["x-owt-parameters"]["times"]["type"] == "integer"
        r = httpx.get(server.url + "/lam", params={"name": "a", "times": "3"}, headers=auth)
        assert r.text == "AAA", r.text


def test_an_enum_the_file_declares_is_its_values(server: Any) -> None:
    """An Enum class in the endpoint's file types its parameter as its members' values (the
    server takes those), so a generated client gets a closed set, not anything."""
    code = (
        "import enum\n"
        "class Color(enum.Enum):\n    RED = 'red'\n    BLUE = 'blue'\n"
        "def run(color: Color, also: Color | None = None) -> str:\n    return color.name\n"
    )
    auth = {"authorization": "Bearer secret"}
    with registered(server, "paint", code):
        post = fetch(server)["paths"]["/paint"]["post"]
        assert post["x-owt-parameters"]["color"] == {"enum": ["red", "blue"]}
        assert {"enum": ["red", "blue"]} in post["x-owt-parameters"]["also"]["anyOf"]
        r = httpx.get(server.url + "/paint", params={"color": "blue"}, headers=auth)
        assert r.text == "BLUE", r.text


def test_a_positional_only_parameter_is_documented_and_takes_its_argument(server: Any) -> None:
    code = "def run(a: int, /, b: int = 2) -> int:\n    return a * 10 + b\n"
    auth = {"authorization": "Bearer secret"}
    with registered(server, "po", code):
        params = {p["name"]: p for p in arguments(fetch(server)["paths"]["/po"]["get"])}
        assert set(params) == {"a", "b"} and params["a"]["required"] is True
        r = httpx.get(server.url + "/po", params={"a": "4"}, headers=auth)
        assert r.text == "42", r.text


PIPES = {
    "kwp": 'kwarg("n", 1).f(lambda n: {"n": n})',  # terse
    "kwreq": 'pipe().kwarg("n").f(lambda n: {"n": n})',  # implicit
    "kwmany": (  # explicit, built from another pipe
        'base = pipe().kwargs(lang="en", ratio=0.5, tags=())\n'
        'run = base.fork(dict, pipe().kwarg("loud", default=False))\n'
    ),
}


def test_a_pipe_endpoints_parameters_are_the_arguments_its_steps_read(server: Any) -> None:
    """A pipe's kwarg()/kwargs() arguments are declared as the server converts them: typed by
    their defaults, required without one (none was listed, so codegen and the playground's
    forms had nothing to send)."""
    auth = {"authorization": "Bearer secret"}
    with contextlib.ExitStack() as stack:
        for name, code in PIPES.items():
            stack.enter_context(registered(server, name, code))
        paths = fetch(server)["paths"]
        (n,) = arguments(paths["/kwp"]["get"])
        assert (n["name"], n["required"], n["schema"]["anyOf"][0]) == (
            "n",
            False,
            {"type": "integer"},
        )
        assert paths["/kwp"]["post"]["x-owt-parameters"] == {"n": {"type": "integer", "default": 1}}
        assert httpx.get(server.url + "/kwp", params={"n": "3"}, headers=auth).json() == {"n": 3}
        refused = httpx.get(server.url + "/kwp", params={"n": "abc"}, headers=auth)
        assert (refused.status_code, refused.json()["field"]) == (400, "n")
        (n,) = arguments(paths["/kwreq"]["get"])
        assert (n["name"], n["required"]) == ("n", True)
        body = paths["/kwreq"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["n"]
        assert httpx.get(server.url + "/kwreq", headers=auth).json()["field"] == "n"
        many = paths["/kwmany"]["post"]["x-owt-parameters"]
        assert list(many) == ["lang", "ratio", "tags", "loud"]
        assert [many[k]["type"] for k in many] == ["string", "number", "array", "boolean"]
        query = {"ratio": "2.5", "tags": "a", "loud": "yes"}
        r = httpx.get(server.url + "/kwmany", params=query, headers=auth)
        assert r.json() == [{"lang": "en", "ratio": 2.5, "tags": ["a"], "loud": "yes"}, True]
