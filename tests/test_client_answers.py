"""What the Python clients (sync and async) make of what they send and receive beyond a plain
result: a GET too long for a URL, a URL for a browser on a ``--token`` server, an address
without a scheme, a body that is not what its content type says, a redirect, an upload the
client cannot send, a stream of JSON items. Each is an ``OwtError`` (or a ``TypeError`` /
``ValueError`` for what the caller passed) saying what to do, never an exception of httpx's
or json's."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from owt.client import AsyncClient, Client, OwtError

LENGTH = "def run(s): return len(s)"
LONG = "x" * 70_000  # over the 65536 characters of query httpx sends
BAD_JSON = "def run(): return ('{bad', {'content-type': 'application/json'})"
BAD_LINES = "def run(): return ('{\"a\": 1}\\n{bad\\n', {'content-type': 'application/x-ndjson'})"
REDIRECT = "def run(): return ('', 302, {'location': '/elsewhere'})"
ITEMS = "def run(n):\n    for i in range(n):\n        yield {'i': i}\n"


def run_async(make: Callable[[AsyncClient], Coroutine[Any, Any, Any]], url: str) -> Any:
    async def main() -> Any:
        async with AsyncClient(url, timeout=30) as client:
            return await make(client)

    return asyncio.run(main())


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


# -- a GET too long for a URL ------------------------------------------------------------------


def too_long(error: pytest.ExceptionInfo[OwtError]) -> None:
    assert error.value.kind == "too_long_for_url"
    assert 'send it as a POST (leave out method="GET")' in error.value.message


def test_a_get_too_long_for_a_url_says_to_post(owt_server: Any) -> None:
    long_code = LENGTH + "\n#" + "y" * 50_000  # code over ~48 KB: its base64 alone is too long
    with Client(owt_server.url, timeout=30) as client:
        for call in (
            lambda: client.adaptor(LENGTH, method="GET")(s=LONG),
            lambda: client.adaptor(long_code, method="GET")(s="x"),
            lambda: client.endpoint("anything", method="GET")(s=LONG),
            lambda: list(client.adaptor(LENGTH, method="GET").stream(s=LONG)),
        ):
            with pytest.raises(OwtError) as error:
                call()
            too_long(error)
        # Once the server holds the code, the call goes by its hash: the arguments still count.
        get = client.adaptor(LENGTH, method="GET")
        assert get(s="x") == "1"
        with pytest.raises(OwtError) as error:
            get(s=LONG)
        too_long(error)
        assert "its code" not in error.value.message  # only the arguments travel now
        assert client.adaptor(LENGTH)(s=LONG) == str(len(LONG))  # as a POST, as it says

    for make in (
        lambda c: c.adaptor(LENGTH, method="GET")(s=LONG),
        lambda c: c.endpoint("anything", method="GET")(s=LONG),
    ):
        with pytest.raises(OwtError) as error:
            run_async(make, owt_server.url)
        too_long(error)


# -- URLs for a browser, addresses without a scheme ------------------------------------------


def test_url_carries_the_clients_token(start_server: Any) -> None:
    server = start_server("--token", "s3cret")
    with Client(server.url, token="s3cret") as client:
        for url in (client.url("def run(): return 1"), client.adaptor("def run(): return 1").url()):
            assert url.endswith("&token=s3cret")
            assert httpx.get(url, timeout=10).text == "1"  # a browser sends no header
    async_client = AsyncClient(server.url, token="s3cret")
    url = async_client.url("def run(): return 2")
    asyncio.run(async_client.aclose())
    assert url.endswith("&token=s3cret") and httpx.get(url, timeout=10).text == "2"
    with Client(server.url) as client:  # no token, none in the URL
        assert "token=" not in client.url("def run(): return 1")


def test_an_address_without_a_scheme_is_plain_http(owt_server: Any) -> None:
    address = owt_server.url.removeprefix("http://")
    with Client(address) as client:
        assert client.call("def run(): return 'bare'") == "bare"
        assert str(client.base_url).startswith("http://")
    assert run_async(lambda c: c.call("def run(): return 'bare'"), address) == "bare"
    for wrong in ("ftp://127.0.0.1:1", "http://", "127.0.0.1:99999"):
        with pytest.raises(ValueError, match="URL"):
            Client(wrong)


# -- answers that are no plain result ----------------------------------------------------------


def test_a_body_that_is_not_the_json_it_says_is_bad_result(owt_server: Any) -> None:
    with Client(owt_server.url, timeout=30) as client:
        for call in (lambda: client.call(BAD_JSON), lambda: client.call(BAD_LINES)):
            with pytest.raises(OwtError) as error:
                call()
            assert (error.value.kind, error.value.status) == ("bad_result", 200)
            assert "not valid JSON, though its content type is application/" in str(error.value)
        with pytest.raises(OwtError) as error:
            list(client.items(BAD_LINES))
        assert error.value.kind == "bad_result"
        # A charset Python does not know is read as UTF-8, not a LookupError.
        code = "def run(): return ('h\u00e9', {'content-type': 'text/plain; charset=nope'})"
        assert client.call(code) == "h\u00e9"
    with pytest.raises(OwtError) as error:
        run_async(lambda c: c.call(BAD_JSON), owt_server.url)
    assert error.value.kind == "bad_result"


def test_a_redirect_is_an_error_naming_where_it_points(owt_server: Any) -> None:
    with Client(owt_server.url, timeout=30) as client:
        for call in (
            lambda: client.call(REDIRECT),
            lambda: list(client.stream(REDIRECT)),
            lambda: list(client.events(REDIRECT)),
        ):
            with pytest.raises(OwtError) as error:
                call()
            assert (error.value.kind, error.value.status) == ("redirect", 302)
            assert error.value.payload["location"] == "/elsewhere"
            assert "a redirect to /elsewhere, which the client does not follow" in str(error.value)
    with pytest.raises(OwtError) as error:
        run_async(lambda c: c.call(REDIRECT), owt_server.url)
    assert error.value.kind == "redirect"


# -- uploads the client cannot send ------------------------------------------------------------


def test_an_upload_of_text_is_a_clear_type_error(owt_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "take.txt"
    path.write_text("text")
    code = "def run(request): return len(request.data)"
    with Client(owt_server.url, timeout=30) as client, path.open() as text_file:
        with pytest.raises(TypeError, match=r"open in text mode .* open it with 'rb'"):
            client.upload(code, text_file)
        with pytest.raises(TypeError, match="gave str: encode its text"):
            client.upload(code, iter(["a", "b"]))
        assert client.upload(code, io.BytesIO(b"four")) == "4"

    async def chunks() -> AsyncIterator[Any]:
        yield "text"

    with path.open() as text_file, pytest.raises(TypeError, match="async iterator of bytes"):
        run_async(lambda c: c.upload(code, text_file), owt_server.url)
    with pytest.raises(TypeError, match="gave str"):
        run_async(lambda c: c.upload(code, chunks()), owt_server.url)


# -- a stream of JSON items --------------------------------------------------------------------


def test_items_decodes_each_json_line_as_it_arrives(owt_server: Any) -> None:
    with Client(owt_server.url, timeout=30) as client:
        assert list(client.items(ITEMS, n=3)) == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert list(client.adaptor(ITEMS).items(n=0)) == []
        assert list(client.items("def run(): return {'whole': 1}")) == [{"whole": 1}]

        @client.remote
        def numbers(n: int) -> Any:
            yield from range(n)

        assert list(numbers.items(2)) == [0, 1]
    assert run_async(lambda c: collect(c.items(ITEMS, n=2)), owt_server.url) == [
        {"i": 0},
        {"i": 1},
    ]
