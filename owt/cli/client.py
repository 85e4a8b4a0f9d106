"""``owt call | encode | url``: call an adaptor file from the shell, or print its request.

    owt call http://127.0.0.1:9876 hello.py name=owt n:=3     # name="owt", n=3 (JSON)
    owt encode hello.py name=owt | curl --json @- localhost:9876
    owt url http://127.0.0.1:9876/hello hello.py name=owt     # a GET URL for a browser

Arguments are ``NAME=text``, ``NAME:=json`` or ``NAME=@path/to/file`` (the file's bytes, sent
as a multipart file part: ``owt call URL size.py image=@cat.png``; ``NAME=@@text`` is the text
``@text``). FILE ``-`` reads the code from stdin.
``owt.client`` (and so httpx) is imported only when one of these commands runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import SplitResult, unquote, urlsplit

import click

from owt.cli.codegen import codegen_command

__all__ = ["COMMANDS", "call_command", "encode_command", "parse_arguments", "url_command"]


def parse_arguments(items: tuple[str, ...]) -> dict[str, Any]:
    """``name=owt`` → ``{"name": "owt"}``; ``n:=3`` → ``{"n": 3}`` (the value is JSON);
    ``image=@cat.png`` → the file's bytes (an open in-memory file named ``cat.png``)."""
    kwargs: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        is_path = value.startswith("@") and not value.startswith("@@")
        try:  # a file's path is the file system's, whatever its bytes
            _checked_text(name if is_path else item)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="ARGS")
        if not sep or not name or name == ":":
            raise click.BadParameter(f"{item!r} is not NAME=text or NAME:=json", param_hint="ARGS")
        if name.endswith(":"):
            name = name[:-1]
            try:
                kwargs[name] = _strict_json(value)
            except ValueError as exc:
                raise click.BadParameter(f"{item!r}: the value is not JSON ({exc})")
        elif value.startswith("@@"):
            kwargs[name] = value[1:]
        elif value.startswith("@"):
            kwargs[name] = _file_argument(value[1:], item)
        else:
            kwargs[name] = value
    return kwargs


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name}: JSON has no NaN or infinity")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: too large for a float, it would be inf
        raise ValueError(f"{text} is too large for a number JSON can carry")
    return number


def _strict_json(text: str) -> Any:
    """JSON as it is sent: Python's ``json`` reads ``NaN`` and ``Infinity`` (and ``1e999`` as
    infinity), which no JSON reader takes back; refused here, where the argument is named."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)


class _Seconds(click.ParamType):
    """A positive, finite number of seconds (``float`` takes ``nan`` and ``inf``, which no
    clock waits for)."""

    name = "seconds"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a positive, finite number of seconds", param, ctx)
        return seconds


SECONDS = _Seconds()


class _Text(click.ParamType):
    """Text that can travel: UTF-8 (a shell hands Python bytes that are not as lone
    surrogates, which no request can carry), or printable ASCII for an HTTP header."""

    name = "text"

    def __init__(self, header: bool = False) -> None:
        self.header = header

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            return _checked_text(str(value), header=self.header)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _checked_text(value: str, *, header: bool = False) -> str:
    if header and not (value.isascii() and value.isprintable()):
        raise ValueError(f"{value!r} is not printable ASCII, which an HTTP header needs")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} is not UTF-8 text") from None
    return value


TEXT = _Text()
HEADER_TEXT = _Text(header=True)


def _file_argument(path: str, item: str) -> io.BytesIO:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{item!r}: cannot read {path}: {exc.strerror}")
    part = io.BytesIO(data)
    # The part's file name: a name the file system holds in bytes that are not UTF-8 is sent
    # with those bytes replaced (a multipart header is text).
    name = os.fsencode(os.path.basename(path)).decode("utf-8", "replace")
    part.name = name
    return part


def _no_files(kwargs: dict[str, Any], reason: str = "which only `owt call` sends") -> None:
    for name, value in kwargs.items():
        if isinstance(value, io.BytesIO):
            raise click.BadParameter(f"{name}=@...: a file goes as a multipart part, {reason}")


def _body(path: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """The --upload body: stdin's bytes, or the file's (read as they are sent)."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return Path(path).expanduser().open("rb")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--upload")


CODE_FILE = click.Path(dir_okay=False, allow_dash=True)


def _call_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--fn", "fn_name", type=TEXT, metavar="NAME", help="The function to call. [run]"
        ),
        click.option("--env", type=TEXT, help="The server environment that runs it. [main]"),
        click.option("--timeout", type=SECONDS, help="Seconds before the server gives up."),
        click.option("--use-cache", is_flag=True, default=None, help="Cache the response."),
        click.option(
            "--cache-kwargs", is_flag=True, default=None, help="Key the cache by arguments too."
        ),
        click.option(
            "-r",
            "--requirement",
            "requirements",
            type=TEXT,
            multiple=True,
            help="A pip requirement.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _fields(fn_name: str | None, **options: Any) -> tuple[str | None, dict[str, Any]]:
    fields = {k: v for k, v in options.items() if v not in (None, ())}
    if "requirements" in fields:
        fields["requirements"] = list(fields["requirements"])
    return fn_name, fields


def _read_code(path: str) -> str:
    """FILE's code (stdin for ``-``); one that cannot be read, is not UTF-8 text or is
    empty is a usage error, as the client's own reading says it."""
    from owt.client import source_of

    try:
        code = sys.stdin.buffer.read() if path == "-" else Path(path).expanduser()
        return source_of(code).code
    except OSError as exc:
        raise click.BadParameter(f"{path!r}: {exc.strerror}", param_hint="'FILE'")
    except ValueError as exc:  # not UTF-8, or empty
        raise click.BadParameter(str(exc), param_hint="'FILE'")


def _url_parts(url: str) -> SplitResult:
    """URL as the server's address, refused with a usage error when it cannot be one."""
    try:
        _checked_text(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'URL'")
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="'URL'")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="'URL'")
    return parts


def _split_url(url: str) -> tuple[str, str, tuple[str, str] | None]:
    """``http://user:pw@host:1/path?q`` → base URL, path with query, credentials."""
    parts = _url_parts(url)
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    netloc = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{netloc}", path, auth


def _write(chunk: str | bytes) -> None:
    click.echo(chunk, nl=False)  # bytes go to the binary stream; flushed each time


def _print_result(result: Any) -> None:
    if result is None:
        return
    if isinstance(result, bytes):
        _write(result)
    elif isinstance(result, str):
        _write(result if result.endswith("\n") else result + "\n")
    else:
        _write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


@click.command("call")
@click.argument("url")
@click.argument("file", type=CODE_FILE)
@click.argument("args", nargs=-1)
@click.option("--get", "method", flag_value="GET", help="Send the call as a GET query.")
@click.option(
    "--post", "method", flag_value="POST", default=True, help="Send a JSON body. [default]"
)
@click.option("--stream", is_flag=True, help="Print the body's chunks as they arrive.")
@click.option(
    "--upload",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Send FILE (- for stdin) as the raw body, for the adaptor's request.stream().",
)
@click.option(
    "--content-type",
    type=HEADER_TEXT,
    default="application/octet-stream",
    show_default=True,
    help="The type of the --upload body.",
)
@click.option(
    "--auth", type=TEXT, metavar="USER:PASSWORD", envvar="OWT_CLIENT_AUTH", help="Basic auth."
)
@click.option("--token", type=HEADER_TEXT, envvar="OWT_CLIENT_TOKEN", help="Bearer token.")
@click.option("--http-timeout", type=SECONDS, default=300.0, help="Seconds to wait. [300]")
@_call_options
def call_command(
    url: str,
    file: str,
    args: tuple[str, ...],
    method: str,
    stream: bool,
    upload: str | None,
    content_type: str,
    auth: str | None,
    token: str | None,
    http_timeout: float,
    fn_name: str | None,
    **options: Any,
) -> None:
    """Run FILE's adaptor on the server at URL with ARGS (NAME=text, NAME:=json).

    The URL's path is the call's path; FILE - reads the code from stdin. The result goes to
    stdout; an error response exits 1 with its message on stderr. With --upload, the file
    is the body (read as it is sent) and ARGS go in the query.
    """
    import httpx

    from owt.client import Client, OwtError, Source
    from owt.client.base import join_url

    kwargs = parse_arguments(args)
    if upload is not None:
        _no_files(kwargs, "which a call with --upload cannot hold: send it as the upload")
        if stream:
            raise click.UsageError("--upload answers whole: leave out --stream")
        if upload == "-" and file == "-":
            raise click.UsageError("stdin cannot be both the code and the --upload body")
    fn_name, fields = _fields(fn_name, **options)
    base, path, credentials = _split_url(url)
    if auth:
        user, _, password = auth.partition(":")
        credentials = (user, password)
    source = Source(_read_code(file))
    try:
        # A build of the call's requirements shows as a progress line on stderr.
        with Client(
            base, auth=credentials, token=token, timeout=http_timeout, progress=True
        ) as client:
            adaptor = client.adaptor(source, fn_name=fn_name, path=path, method=method, **fields)
            if upload is not None:
                with _body(upload) as body:
                    _print_result(adaptor.upload(body, content_type, **kwargs))
            elif stream:
                for chunk in adaptor.stream(**kwargs):
                    _write(chunk)
            else:
                _print_result(adaptor(**kwargs))
    except OwtError as err:
        click.echo(f"owt: {err}", err=True)
        if err.traceback:
            click.echo(err.traceback.rstrip("\n"), err=True)
        sys.exit(1)
    except httpx.HTTPError as exc:
        click.echo(f"owt: {join_url(base, path)}: {exc or type(exc).__name__}", err=True)
        sys.exit(1)


@click.command("encode")
@click.argument("file", type=CODE_FILE)
@click.argument("args", nargs=-1)
@_call_options
def encode_command(file: str, args: tuple[str, ...], fn_name: str | None, **options: Any) -> None:
    """Print the JSON body that calls FILE's adaptor with ARGS (for ``curl --json @-``)."""
    from owt.client import Source, encode_body

    kwargs = parse_arguments(args)
    _no_files(kwargs)
    fn_name, fields = _fields(fn_name, **options)
    source = Source(_read_code(file), fn_name or "run")
    click.echo(json.dumps(encode_body(source, kwargs, fields), ensure_ascii=False))


@click.command("url")
@click.argument("url")
@click.argument("file", type=CODE_FILE)
@click.argument("args", nargs=-1)
@click.option(
    "--token",
    type=HEADER_TEXT,
    envvar="OWT_CLIENT_TOKEN",
    help="A server's --token, put in the URL as ?token= (a browser sends no header).",
)
@_call_options
def url_command(
    url: str,
    file: str,
    args: tuple[str, ...],
    token: str | None,
    fn_name: str | None,
    **options: Any,
) -> None:
    """Print a GET URL that calls FILE's adaptor at URL with ARGS."""
    from urllib.parse import urlencode

    from owt.client import Source, encode_url

    kwargs = parse_arguments(args)
    _no_files(kwargs)
    fn_name, fields = _fields(fn_name, **options)
    source = Source(_read_code(file), fn_name or "run")
    address = encode_url(_url_parts(url).geturl(), source, kwargs, fields)
    click.echo(address + ("&" + urlencode({"token": token}) if token else ""))


COMMANDS = [call_command, encode_command, url_command, codegen_command]
