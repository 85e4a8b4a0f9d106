"""Making one environment's folder: a virtualenv, its requirements installed, its marker.

    creating (uv venv, or python -m venv) → resolving … installing (uv pip / pip install)

Every way a build can end leaves the disk as ``/_owt/envs`` shows it: built (a marker with
``ok: true``), failed (a marker with ``ok: false`` and why, listed, removable with ``DELETE``,
not tried again until ``rebuild=true``), or nothing at all (a build cancelled: its
environment removed, the server stopping, ``--build-timeout``). A fault that is not the
installer's (an OSError starting it: no space left, a command line over the system's bound)
is an ``install_failed`` as well, its cause written in the build log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from typing import IO

from owt.core.errors import InstallFailed
from owt.executors.builds import Progress, run_logged
from owt.executors.envdisk import VirtualEnv, tail, write_marker

__all__ = ["build_environment"]

log = logging.getLogger(__name__)


async def build_environment(
    env: VirtualEnv, progress: Progress, uv: str | None, base_python: str
) -> None:
    """Build ``env``'s folder from nothing; raises InstallFailed (its marker then says so)."""
    env.state, env.error, env.started = "building", None, time.monotonic()
    log.info("building an environment for %s in %s", env.requirements, env.path)
    try:
        env.marker.unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, env.path, True)
        env.path.parent.mkdir(parents=True, exist_ok=True)
        with env.log.open("w") as log_file:
            log_file.write(f"# owt: {json.dumps(env.requirements)}\n")
            await _install(env, progress, uv, base_python, log_file)
        env.build_seconds = round(time.monotonic() - env.started, 2)
        write_marker(env, ok=True, build_seconds=env.build_seconds)
    except InstallFailed as err:
        _failed(env, err.message)
        raise
    except Exception as exc:  # not the installer's failure: the build's own (an OSError)
        message = (
            f"building the environment for {', '.join(env.requirements)} failed: "
            f"{type(exc).__name__}: {exc}; see its log, fix the cause, then send rebuild=true"
        )
        log.warning("build %s: %s", env.key, message)
        _note(env, message)
        _failed(env, message)
        raise InstallFailed(message, log_tail=tail(env.log)) from exc
    except BaseException:  # cancelled: nothing half-made stays behind, unlisted
        env.marker.unlink(missing_ok=True)
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, env.path, True))
        raise
    log.info("built %s in %.1fs", env.path, env.build_seconds)


async def _install(
    env: VirtualEnv, progress: Progress, uv: str | None, base_python: str, log_file: IO[str]
) -> None:
    python = str(env.python)
    if uv:
        create = [uv, "venv", "--python", base_python, str(env.path)]
        install = [uv, "pip", "install", "--python", python]
    else:
        create = [base_python, "-m", "venv", str(env.path)]
        install = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [
        ("creating", "creating the virtualenv", create),
        ("resolving", ", ".join(env.requirements), install + env.requirements),
    ]
    for phase, detail, command in steps:
        env.phase = phase
        progress.enter(phase, detail)
        log_file.write(f"$ {' '.join(command)}\n")
        code = await run_logged(command, log_file, progress)
        if code != 0:
            raise InstallFailed(
                f"installing {', '.join(env.requirements)} failed ({phase}: exit code "
                f"{code}); fix the requirements, or send rebuild=true to try again",
                log_tail=tail(env.log),
            )


def _note(env: VirtualEnv, message: str) -> None:
    """Add why a build failed to its log (the installer wrote nothing of it)."""
    try:
        with env.log.open("a") as file:
            file.write(f"# owt: {message}\n")
    except OSError:
        pass


def _failed(env: VirtualEnv, message: str) -> None:
    """Mark the build failed, so that it is listed and removable; when not even that can be
    written, remove what it made."""
    try:
        write_marker(env, ok=False, message=message)
    except OSError:
        log.warning("build %s: cannot write its marker; removing it", env.key)
        shutil.rmtree(env.path, ignore_errors=True)
