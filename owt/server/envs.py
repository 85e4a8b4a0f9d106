"""``/_owt/envs``: the environments built for requirement sets, and removing one.

    GET    /_owt/envs          each built set: requirements, Python, size on disk, live
                               workers (pids), their memory, last use
    DELETE /_owt/envs/KEY      stop its workers and delete it from disk: what was freed
                               (a call still running in it fails with 502 worker_died)

KEY is the folder name ``GET`` lists (``py3.11-<sha256[:16]>``). With ``--envs-max-bytes`` the
least recently used environments are deleted by themselves once the built ones pass that size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from owt.core.errors import Locked, NotFound
from owt.executors.venvs import RequirementsExecutor
from owt.server.endpoints.routes import answering

if TYPE_CHECKING:
    from owt.server.app import State

__all__ = ["env_routes"]


def env_routes(state: State) -> list[Route]:
    def built() -> RequirementsExecutor:
        executor = state.requirements
        if not isinstance(executor, RequirementsExecutor):
            raise NotFound(
                "this server keeps no environments of its own (with --executor ray, the "
                "cluster's nodes build them)"
            )
        return executor

    async def listing(_: StarletteRequest) -> Response:
        executor = built()
        rows = await executor.listing()
        return JSONResponse(
            {
                "root": str(executor.root),
                "size": sum(row["size"] for row in rows),
                "max_bytes": executor.max_disk_bytes or None,
                "environments": rows,
            }
        )

    async def delete(request: StarletteRequest) -> Response:
        if state.settings.locked:
            raise Locked("this server is locked: its environments cannot be removed over HTTP")
        return JSONResponse(await built().remove(request.path_params["key"]))

    return [
        Route("/_owt/envs", answering(listing), methods=["GET"]),
        Route("/_owt/envs/{key}", answering(delete), methods=["DELETE"]),
    ]
