"""Named environments: which executor runs a call, built from the settings at startup.

    owt serve                                   main: a worker process of the server's Python
    owt serve --in-process                      main: threads inside the server
    owt serve --env tts=~/venvs/bark/bin/python --env ml=.venv-ml/bin/python:2

``--env NAME=PYTHON[:N]`` adds a pool of N worker processes (default 1) of any Python >= 3.10
with nothing installed for owt; a call picks it with ``env=NAME``. ``--env main=PYTHON:N``
replaces ``main`` itself. Each worker process runs up to ``--worker-threads`` calls at once.

This module is the one place where Settings meet executors: it derives their
:class:`~owt.executors.base.ExecutorOptions`.

A call that brings ``requirements`` runs in a virtualenv built for that set
(:mod:`owt.executors.venvs`), never in a named environment: asking for both is a 400. With
``--no-install`` such a call is refused with 400 ``bad_request`` (``field: requirements``),
since the call itself asks for something this server does not offer; on a ``--locked`` server
it is 403 ``locked`` (only environments named at start may run).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from owt.config import Settings, SettingsError
from owt.executors import load_executor
from owt.executors.base import Executor, ExecutorOptions

__all__ = [
    "EnvSpec",
    "create_environments",
    "create_requirements",
    "executor_options",
    "parse_env",
    "parse_envs",
]


@dataclass(frozen=True)
class EnvSpec:
    """``NAME=/path/to/python[:N]``: an environment of N workers of that interpreter."""

    name: str
    python: str
    workers: int = 1


def parse_env(text: str) -> EnvSpec:
    """One ``--env`` value; raises SettingsError with a one-line reason.

    >>> parse_env("ml=/usr/bin/python3:2")
    EnvSpec(name='ml', python='/usr/bin/python3', workers=2)
    """
    name, sep, python = text.partition("=")
    name = name.strip()
    if not sep or not name or not python.strip():
        raise SettingsError(f"--env {text!r}: expected NAME=/path/to/python[:N]")
    if not all(c.isalnum() or c in "-_." for c in name):
        raise SettingsError(f"--env {text!r}: the name may hold letters, digits, - _ . only")
    workers = 1
    head, colon, tail = python.rpartition(":")
    if colon and tail.strip().isdigit():
        python, workers = head, int(tail)
        if workers < 1:
            raise SettingsError(f"--env {text!r}: the pool needs at least one worker")
    return EnvSpec(name, _interpreter(python.strip(), text), workers)


def _interpreter(python: str, text: str) -> str:
    path = Path(python).expanduser()
    if os.sep not in python and not path.exists():
        found = shutil.which(python)
        if found is None:
            raise SettingsError(f"--env {text!r}: no interpreter {python!r} on PATH")
        return found
    # Keep a virtualenv's own bin/python link: resolving it would lose the virtualenv.
    path = path.absolute()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SettingsError(f"--env {text!r}: {path} is not an executable file")
    return str(path)


def parse_envs(items: list[str]) -> list[EnvSpec]:
    """Every ``--env``; a name given twice is an error."""
    specs = [parse_env(item) for item in items]
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise SettingsError(f"--env {name}=... is given more than once")
    return specs


def executor_options(settings: Settings) -> ExecutorOptions:
    """What the executors need to know of the settings, and nothing else."""
    return ExecutorOptions(
        max_queue=settings.max_queue,
        max_memory=settings.worker_max_memory,
        max_calls=settings.worker_max_calls,
        max_adaptors=settings.max_adaptors,
        threads=settings.worker_threads,
        drain_grace=settings.drain_grace,
        idle_timeout=settings.worker_idle_timeout or None,
        ray_address=settings.ray_address,
        lib=tuple(settings.lib),
        log_format=settings.log_format,
    )


def _pool_class(settings: Settings) -> Callable[..., Executor]:
    # Named environments are worker processes, or actors when the cluster executor is chosen.
    return load_executor("ray" if settings.executor == "ray" else "process")


def create_environments(settings: Settings) -> dict[str, Executor]:
    """``main`` and every ``--env``, not yet started (the app's lifespan starts them).

    ``main`` is one worker process of the server's interpreter, unless ``--in-process``
    keeps it on threads here.
    """
    specs = {spec.name: spec for spec in parse_envs(settings.env)}
    options = executor_options(settings)
    environments: dict[str, Executor] = {}
    if "main" not in specs:
        if settings.in_threads:
            from owt.executors.thread import ThreadExecutor

            in_process = replace(options, threads=settings.threads)
            environments["main"] = ThreadExecutor(options=in_process)
        else:
            specs = {"main": EnvSpec("main", sys.executable, 1), **specs}
    pool = _pool_class(settings) if specs else None
    for spec in specs.values():
        assert pool is not None
        environments[spec.name] = pool(spec.python, spec.workers, env=spec.name, options=options)
    return environments


def create_requirements(settings: Settings) -> Executor:
    """The executor for calls that bring ``requirements``: builds and runs their virtualenvs."""
    from owt.core.errors import BadRequest, Locked, OwtError
    from owt.executors.venvs import RequirementsExecutor, default_root

    refusal: OwtError | None = None
    if settings.locked:
        refusal = Locked(
            "this server is locked: calls run only in its named environments, so it does "
            "not build environments for requirements"
        )
    elif settings.no_install:
        refusal = BadRequest(
            "this server does not build environments for requirements (--no-install); "
            "name one of its environments with env= instead",
            field="requirements",
        )
    if settings.executor == "ray":  # Ray installs each set on the nodes that run it
        from owt.executors.ray.executor import RayExecutor
        from owt.executors.ray.requirements import RayRequirements

        ray_options = executor_options(settings)
        return RayRequirements(
            lambda reqs, label: RayExecutor(env=label, requirements=reqs, options=ray_options),
            refusal=refusal,
        )
    root = settings.state_dir / "envs" if settings.state_dir is not None else default_root()
    pool = _pool_class(settings)
    options = executor_options(settings)

    def make(python: str, label: str) -> Executor:
        key = label.removeprefix("requirements:")
        advice = (
            "the environment's files are damaged or gone: send the call again with "
            f"rebuild=true to build it anew, or DELETE /_owt/envs/{key}"
        )
        return pool(python, 1, env=label, options=replace(options, start_advice=advice))

    return RequirementsExecutor(
        root,
        make,
        refusal=refusal,
        build_timeout=settings.build_timeout,
        max_disk_bytes=settings.envs_max_bytes,
    )
