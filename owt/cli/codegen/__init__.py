"""``owt codegen``: typed functions in another language for a server's endpoints.

    owt serve --mount generate=generate.py        # def run(animal: Literal["cat", "dog"]) -> bytes
    owt codegen --lang haskell --out Endpoints.hs http://127.0.0.1:9876
    # generate :: OwtClient -> Animal -> IO ByteString

It reads the server's ``/_owt/openapi.json`` (whose endpoint parameters and results are typed
from the functions' hints) and writes one function per mounted or registered endpoint — or
per ENDPOINT named — over that language's owt client: ``clients/haskell`` (``Owt``),
``clients/js`` (the ``owt-client`` package) or ``owt.client``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click

from owt.cli.codegen.model import Module, read_endpoints

__all__ = ["LANGUAGES", "codegen_command", "generate"]

LANGUAGES = ("haskell", "typescript", "python")


def generate(document: dict[str, Any], url: str, lang: str, **options: Any) -> str:
    """The source of a module in ``lang`` for the endpoints of an OpenAPI ``document``."""
    module: Module = read_endpoints(document, url, options.get("endpoints") or None)
    if lang == "haskell":
        from owt.cli.codegen import haskell

        return haskell.render(module, options.get("module_name") or "OwtEndpoints")
    if lang == "typescript":
        from owt.cli.codegen import typescript

        return typescript.render(module)
    if lang == "python":
        from owt.cli.codegen import python

        return python.render(module)
    raise ValueError(f"no generator for {lang!r}: one of {', '.join(LANGUAGES)}")


def _haskell_module(out: Path | None) -> str:
    if out is not None and re.fullmatch(r"[A-Z][A-Za-z0-9_]*", out.stem):
        return out.stem
    return "OwtEndpoints"


@click.command("codegen")
@click.argument("url")
@click.argument("endpoints", nargs=-1)
@click.option("--lang", type=click.Choice(LANGUAGES), required=True, help="The language.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File [stdout].")
@click.option("--auth", metavar="USER:PASSWORD", envvar="OWT_CLIENT_AUTH", help="Basic auth.")
@click.option("--token", envvar="OWT_CLIENT_TOKEN", help="Bearer token.")
def codegen_command(
    url: str,
    endpoints: tuple[str, ...],
    lang: str,
    out: Path | None,
    auth: str | None,
    token: str | None,
) -> None:
    """Write typed functions for the endpoints of the server at URL (or the ENDPOINTs named).

    The module is named after --out (Haskell: Endpoints.hs is module Endpoints).
    """
    import httpx

    parts = urlsplit(url if "://" in url else f"http://{url}")
    root = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    if auth:
        user, _, password = auth.partition(":")
        credentials = (user, password)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(root + "/_owt/openapi.json", auth=credentials, headers=headers)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {root}: {exc}")
    if response.status_code != 200:
        raise click.ClickException(
            f"{root}/_owt/openapi.json answered {response.status_code}: {response.text[:300]}"
        )
    try:
        source = generate(
            response.json(), root, lang, endpoints=list(endpoints), module_name=_haskell_module(out)
        )
    except LookupError as exc:
        raise click.ClickException(str(exc))
    if out is None:
        click.echo(source, nl=False)
    else:
        out.write_text(source)
