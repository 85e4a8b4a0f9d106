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

from owt.cli.arguments import interruptible
from owt.cli.codegen.model import Module, read_endpoints
from owt.cli.codegen.naming import words

__all__ = ["LANGUAGES", "codegen_command", "generate", "haskell_module"]

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


#: Module names a generated module cannot take: ``Main`` must define ``main``, ``Owt`` is the
#: client it imports, ``Prelude`` is every module's.
_TAKEN_MODULES = {
    "Main": "a program's main module",
    "Owt": "the client's module, which it imports",
    "Prelude": "the module every module imports",
}


def haskell_module(out: Path | None) -> str:
    """The name of the module written to ``out``: its file's name, since GHC finds ``import
    Endpoints`` in ``Endpoints.hs`` (``OwtEndpoints`` on stdout). A file name no module can
    have is a usage error that names one it can."""
    if out is None:
        return "OwtEndpoints"
    stem = out.name.removesuffix(".hs") if out.name.endswith(".hs") else out.stem
    why = ""
    if not out.name.endswith(".hs"):
        why = "a Haskell module's file name ends in .hs"
    elif not re.fullmatch(r"[A-Z][A-Za-z0-9_']*", stem):
        why = (
            "the module is named after the file, for GHC to find `import NAME` in NAME.hs, and "
            "a module's name starts with a capital letter and holds only letters, digits, _ "
            "and '"
        )
    elif stem in _TAKEN_MODULES:
        why = f"{stem} is {_TAKEN_MODULES[stem]}"
    if not why:
        return stem
    better = "".join(w.capitalize() for w in words(stem)) or "Endpoints"
    if not better[0].isalpha() or better in _TAKEN_MODULES:
        better = "Endpoints" + better
    raise click.BadParameter(
        f"{out.name!r}: {why}; write it as {out.with_name(better + '.hs')}, and import {better}",
        param_hint="--out",
    )


@click.command("codegen")
@click.argument("url")
@click.argument("endpoints", nargs=-1)
@click.option("--lang", type=click.Choice(LANGUAGES), required=True, help="The language.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File [stdout].")
@click.option("--auth", metavar="USER:PASSWORD", envvar="OWT_CLIENT_AUTH", help="Basic auth.")
@click.option("--token", envvar="OWT_CLIENT_TOKEN", help="Bearer token.")
@interruptible
def codegen_command(
    url: str,
    endpoints: tuple[str, ...],
    lang: str,
    out: Path | None,
    auth: str | None,
    token: str | None,
) -> None:
    """Write typed functions for the endpoints of the server at URL (or the ENDPOINTs named).

    Haskell's module is named after --out, for GHC to find it: Endpoints.hs is module
    Endpoints (OwtEndpoints on stdout).
    """
    import httpx

    from owt.client.urls import server_url

    module_name = haskell_module(out) if lang == "haskell" else None
    try:
        parts = urlsplit(server_url(url))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'URL'")
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
        document = response.json()
    except ValueError as exc:  # not JSON: not an owt server there
        raise click.ClickException(f"{root}/_owt/openapi.json is not JSON ({exc}): is it owt?")
    try:
        source = generate(document, root, lang, endpoints=list(endpoints), module_name=module_name)
    except LookupError as exc:
        raise click.ClickException(str(exc))
    if out is None:
        click.echo(source, nl=False)
    else:
        out.write_text(source)
