"""The ``owt`` command: ``owt serve`` (also ``owt --port 9876`` with no command).

Client commands (``call``, ``encode``, ``url``) are added from ``owt.cli_client``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from owt.config import MiB, Settings, SettingsError

__all__ = ["cli", "main", "serve_command", "serve_main"]


def _serve_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--address", envvar="OWT_ADDRESS", help="Address to listen on. [127.0.0.1]"),
        click.option("--port", type=int, envvar="OWT_PORT", help="Port (0 picks one). [9876]"),
        click.option("-v", "--verbose", count=True, help="-v info, -vv debug and access log."),
        click.option("--timeout", type=float, help="Default seconds per call. [60]"),
        click.option("--max-body-bytes", type=int, help=f"Largest request body. [{16 * MiB}]"),
        click.option(
            "--insecure",
            is_flag=True,
            default=None,
            help="Allow a non-loopback address without --auth/--token.",
        ),
        click.option("--threads", type=int, help="Worker threads for the main environment. [64]"),
        click.option(
            "--auth",
            multiple=True,
            envvar="OWT_AUTH",
            help="user:sha256hex of the password (repeatable; env comma-separated).",
        ),
        click.option(
            "--token",
            multiple=True,
            envvar="OWT_TOKEN",
            help="Bearer token (repeatable; env comma-separated).",
        ),
        click.option("--cors", multiple=True, help="Allowed CORS origin (repeatable; * for any)."),
        click.option(
            "--locked",
            is_flag=True,
            default=None,
            help="Run only mounted/registered endpoints and --allow'ed code.",
        ),
        click.option("--allow", multiple=True, help="Code sha256 or file allowed when --locked."),
        click.option(
            "--allow-register",
            is_flag=True,
            default=None,
            help="Allow PUT /_owt/endpoints on a locked server.",
        ),
        click.option(
            "--allow-install",
            is_flag=True,
            default=None,
            help="Let pipes install packages into their environment.",
        ),
        click.option("--max-concurrency", type=int, help="Calls at once (0: no limit). [0]"),
        click.option(
            "--max-queue", type=int, help="Calls waiting for --max-concurrency before 503. [64]"
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False),
            help="Folder for persistent state (SQLite, environments).",
        ),
        click.option("--cache-max-bytes", type=int, help=f"Response cache bound. [{256 * MiB}]"),
        click.option("--max-codes", type=int, help="Codes kept for code_sha256 calls. [1024]"),
        click.option("--mount", multiple=True, help="NAME=path/to/adaptor.py (repeatable)."),
        click.option("--env", multiple=True, help="NAME=/path/to/python[:N] (repeatable)."),
        click.option(
            "--isolate",
            is_flag=True,
            default=None,
            help="Run the main environment in worker processes.",
        ),
        click.option(
            "--no-install", is_flag=True, default=None, help="Refuse calls that bring requirements."
        ),
        click.option("--worker-max-memory", type=int, help="Bytes of address space per worker."),
        click.option("--worker-max-calls", type=int, help="Recycle a worker after N calls."),
        click.option(
            "--executor",
            type=click.Choice(["thread", "process", "ray"]),
            help="Where environments run. [thread]",
        ),
        click.option(
            "--ray-address",
            help="Ray cluster: auto, HOST:PORT or ray://HOST:10001. [a local one, started here]",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_serve(**options: Any) -> None:
    from owt.serving import run_server

    if options.get("verbose") == 0:
        options["verbose"] = None
    try:
        settings = Settings.from_options(**options)
        settings.check()
    except SettingsError as exc:
        click.echo(f"owt: {exc}", err=True)
        sys.exit(2)
    run_server(settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="owt")
def cli() -> None:
    """owt — serve owt yer fancy on t'fly."""


@cli.command("serve")
@_serve_options
def serve_command(**options: Any) -> None:
    """Run the owt server."""
    _run_serve(**options)


@click.command("owt.server")
@_serve_options
def serve_main(**options: Any) -> None:
    """Run the owt server (python -m owt.server)."""
    _run_serve(**options)


def _add_client_commands() -> None:
    try:
        from owt import cli_client
    except ImportError:
        return
    for command in cli_client.COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """``owt``; with flags and no command it means ``owt serve``."""
    args = list(sys.argv[1:] if argv is None else argv)
    _add_client_commands()
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    cli.main(args=args, prog_name="owt")
