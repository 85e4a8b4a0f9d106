"""The plain call values: query parsing as the stdlib does it, pickling across processes."""

from __future__ import annotations

import pickle
from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from owt.core.call import Request, parse_query

QUERY_CHARS = st.sampled_from([*"ab=&+%2Fé_-.~ ", "%C3%A9", "%zz", "%2"])


@given(st.lists(QUERY_CHARS, max_size=40).map("".join))
def test_parse_query_matches_parse_qsl(text: str) -> None:
    assert parse_query(text) == parse_qsl(text, keep_blank_values=True)


def test_request_survives_pickling_with_its_derived_views() -> None:
    request = Request(
        method="POST",
        path="/p",
        query_string="a=1&a=2&b=x+y",
        header_pairs=[("Content-Type", "application/json"), ("Cookie", "k=v")],
        data=b'{"n": 1}',
    )
    assert request.args.getlist("a") == ["1", "2"]  # computed before pickling
    copy = pickle.loads(pickle.dumps(request, protocol=5))
    assert copy.args.getlist("a") == ["1", "2"]
    assert copy.args["b"] == "x y"
    assert copy.json == {"n": 1}
    assert copy.headers["content-type"] == "application/json"
    assert copy.cookies == {"k": "v"}
