"""Sources: each reads the call (arguments or request) and ignores the previous value."""

from __future__ import annotations

import pytest
from summat_support import json_request, make_request

from owt.core.call import Call
from owt.core.context import using_call
from owt.core.errors import BadRequest
from owt.summat import pipe


def test_kwarg_reads_one_argument() -> None:
    assert pipe().kwarg("name")(name="owt", other=1) == "owt"


def test_kwarg_missing_is_a_bad_request_naming_the_field() -> None:
    with pytest.raises(BadRequest, match=r"no argument 'name' \(it has: other\)") as info:
        pipe().kwarg("name")(other=1)
    assert info.value.extra["field"] == "name"


def test_kwarg_default() -> None:
    assert pipe().kwarg("lang", "en")() == "en"
    assert pipe().kwarg("lang", "en")(lang="fr") == "fr"


def typed_call() -> Call:
    """An endpoint's call: its arguments arrived as query or form text."""
    return Call(code="", sha256="0", typed=True)


def test_defaults_convert_an_endpoints_text_arguments() -> None:
    p = pipe().kwargs(n=1, name="x", ratio=0.5, loud=False).f(lambda n, name: name * n)
    with using_call(typed_call()):
        assert p(n="3") == "xxx"
        assert pipe().kwargs(n=1, ratio=0.5, loud=False)(n="3", ratio="2", loud="yes") == {
            "n": 3,
            "ratio": 2.0,
            "loud": True,
        }
        assert pipe().kwarg("n", 1)(n=" 7 ") == 7
        assert pipe().kwarg("tags", ())(tags=["a", "b"]) == ["a", "b"]
        assert pipe().kwargs(n=1, other=None)(other="3", extra="4") == {
            "n": 1,
            "other": "3",
            "extra": "4",
        }  # no default, or a None one: as sent
        assert pipe().kwarg("n")(n="3") == "3"


def test_a_misfit_of_a_default_is_a_bad_request_naming_it() -> None:
    with using_call(typed_call()):
        for p in (pipe().kwargs(n=1), pipe().kwarg("n", 1)):
            with pytest.raises(BadRequest, match=r"'n' expects an integer .*got 'many'") as info:
                p(n="many")
            assert info.value.extra["field"] == "n"


def test_defaults_leave_other_calls_arguments_as_sent() -> None:
    assert pipe().kwargs(n=1)(n="3") == {"n": "3"}
    with using_call(Call(code="", sha256="0")):
        assert pipe().kwarg("n", 1)(n="3") == "3"


def test_kwargs_merges_defaults_without_last() -> None:
    got = pipe().kwargs(lang="en", n=1)(n=2, text="hi")
    assert got == {"lang": "en", "n": 2, "text": "hi"}
    assert pipe().kwargs()(__last__=5) == {}


def test_pipe_starts_with_last() -> None:
    assert pipe()(__last__=[1, 2]) == [1, 2]
    assert pipe()(a=1) is None


def test_last_is_the_last_item_of_the_value() -> None:
    assert pipe().const(["one", "two", "three"]).last()() == "three"
    assert pipe().const("abc").last()() == "c"
    assert pipe().const(iter([1, 2, 3])).last()() == 3
    with pytest.raises(IndexError):
        pipe().const([]).last()()
    with pytest.raises(TypeError, match="not of a int"):
        pipe().const(1).last()()


def test_kwargs_are_keyword_arguments_of_the_next_function() -> None:
    add = pipe().kwargs(x=1, y=2).f(lambda x=None, y=None, z=1: x + y + z)
    assert add(x=0, z=4) == 6  # the call's arguments override the defaults
    assert add() == 4
    assert pipe().kwargs(x=1).f(lambda **kw: sorted(kw))(y=2) == ["x", "y"]
    assert pipe().kwargs(a=1).f(lambda d: d["a"])() == 1  # names none of them: the dict


def test_const() -> None:
    assert pipe().const({"a": 1})(x=2) == {"a": 1}


def test_input_is_the_body_as_bytes() -> None:
    req = make_request(data="héllo".encode(), method="POST")
    assert pipe().input()(req) == "héllo".encode()


def test_input_decodes_with_an_encoding() -> None:
    req = make_request(data="héllo".encode(), method="POST")
    assert pipe().input("utf-8")(req) == "héllo"


def test_path_gives_non_empty_segments() -> None:
    assert pipe().path()(make_request("/hello//owt/")) == ["hello", "owt"]
    assert pipe().path()(make_request("/")) == []


def test_terse_hello_from_the_path() -> None:
    hello = pipe().path().f(lambda names: f"Hello {names[0]}!")
    assert hello(make_request("/world")) == "Hello world!"


def test_query_first_values_without_call_fields() -> None:
    req = make_request(query="a=1&a=2&b=&code_b64=eA&kwargs_b64=e30&fn_name=run")
    assert pipe().query()(req) == {"a": "1", "b": ""}


def test_json_body_without_call_fields() -> None:
    req = json_request({"code_b64": "eA", "kwargs": {}, "text": "hi", "n": [1]})
    assert pipe().json()(req) == {"text": "hi", "n": [1]}
    assert pipe().json()(json_request([1, 2])) == [1, 2]


def test_json_of_a_non_json_body_is_none() -> None:
    assert pipe().json()(make_request(data=b"plain text", content_type="text/plain")) is None


def test_request_falls_back_to_the_current_call() -> None:
    call = Call(code="", sha256="0", request=make_request("/from/call"))
    with using_call(call):
        assert pipe().path()() == ["from", "call"]


def test_request_outside_a_call_says_how_to_give_one() -> None:
    with pytest.raises(RuntimeError, match="call the pipe with a Request"):
        pipe().path()()
