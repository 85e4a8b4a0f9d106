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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import SplitResult, unquote, urlsplit

import click

from owt.cli.arguments import (
    HEADER_TEXT,
    SECONDS,
    TEXT,
    checked_text,
    interruptible,
    parse_arguments,
)
from owt.cli.codegen import codegen_command

__all__ = ["COMMANDS", "call_command", "encode_command", "parse_arguments", "url_command"]


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
    """URL as the server's address (``host:port`` is ``http://host:port``, as the clients
    take it), refused with a usage error when it cannot be one."""
    from owt.client.urls import server_url

    try:
        return urlsplit(server_url(checked_text(url)))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'URL'")


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
@interruptible
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
        click.echo(f"owt: {_said(err, join_url(base, path))}", err=True)
        if err.traceback:
            click.echo(err.traceback.rstrip("\n"), err=True)
        sys.exit(1)
    except httpx.HTTPError as exc:
        click.echo(f"owt: {join_url(base, path)}: {exc or type(exc).__name__}", err=True)
        sys.exit(1)


def _said(err: Any, url: str) -> str:
    """An error as ``owt call`` says it: where the client's message names one of its own
    options (``timeout=``, ``method="GET"``), the flag that sets it instead."""
    if err.kind == "client_timeout":
        seconds = err.payload.get("timeout")
        waited = f" ({seconds:g}s)" if isinstance(seconds, int | float) else ""
        return (
            f"client_timeout: {url}: no answer within --http-timeout{waited}: pass a larger "
            "--http-timeout, or give the call a --timeout of its own, which owt call waits for"
        )
    if err.kind == "too_long_for_url" and err.payload.get("via") == "GET":
        return (
            "too_long_for_url: --get sends the code and arguments in the URL, and this call's "
            f"query is {err.payload.get('length')} characters, more than httpx sends: leave out "
            "--get (a POST carries them in its body)"
        )
    return str(err)


@click.command("encode")
@click.argument("file", type=CODE_FILE)
@click.argument("args", nargs=-1)
@_call_options
@interruptible
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
@interruptible
def url_command(
    url: str,
    file: str,
    args: tuple[str, ...],
    token: str | None,
    fn_name: str | None,
    **options: Any,
) -> None:
    """Print a GET URL that calls FILE's adaptor at URL with ARGS."""
    from owt.client import Source, encode_url

    kwargs = parse_arguments(args)
    _no_files(kwargs)
    fn_name, fields = _fields(fn_name, **options)
    source = Source(_read_code(file), fn_name or "run")
    click.echo(encode_url(_url_parts(url).geturl(), source, kwargs, fields, token=token))


COMMANDS = [call_command, encode_command, url_command, codegen_command]
