"""RequirementsRouter: what the local and the Ray requirements executors share."""

from __future__ import annotations

import asyncio
import json

import pytest

from owt.core.call import Call, Reply, Request
from owt.core.errors import BadRequest, OwtError
from owt.executors.base import Executor
from owt.executors.router import RequirementsRouter


class Echo(Executor):
    def __init__(self) -> None:
        self.calls = 0

    async def submit(self, call: Call) -> Reply:
        self.calls += 1
        return Reply(200, [], b"ok")


class Router(RequirementsRouter):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.builds: list[tuple[str, bool]] = []
        self.executor = Echo()

    async def ready(self, key: str, requirements: list[str], rebuild: bool) -> Executor:
        self.builds.append((key, rebuild))
        assert self.in_flight.get(key, 0) == 0  # nothing runs while it is made ready
        return self.executor


def call(**options: object) -> Call:
    return Call("def run(): pass", "0" * 64, request=Request(), options=dict(options))


def test_rebuild_builds_once_per_call_however_often_it_is_prepared() -> None:
    router = Router()
    c = call(requirements=["six==1.16.0"], rebuild=True)

    async def main() -> Reply:
        await router.prepare(c)
        await router.prepare(c)
        return await router.submit(c)

    assert asyncio.run(main()).status == 200
    assert [rebuild for _, rebuild in router.builds] == [True, False, False]
    assert router.in_flight[router.builds[0][0]] == 0 and router.executor.calls == 1


def test_a_refusal_is_the_reply() -> None:
    router = Router(refusal=BadRequest("no builds here", field="requirements"))
    reply = asyncio.run(router.submit(call(requirements=["six"])))
    assert reply.status == 400 and b"no builds here" in reply.body
    with pytest.raises(BadRequest):
        asyncio.run(router.prepare(call(requirements=["six"])))


class Failing(Router):
    def __init__(self, fault: BaseException | None) -> None:
        super().__init__()
        self.fault = fault

    async def ready(self, key: str, requirements: list[str], rebuild: bool) -> Executor:
        if self.fault is None:  # a build stopped under its callers (removed, say)
            task = asyncio.get_running_loop().create_task(asyncio.sleep(10))
            asyncio.get_running_loop().call_soon(task.cancel)
            await asyncio.shield(task)
        raise self.fault  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        (None, 503, "busy"),
        (OSError(7, "Argument list too long"), 424, "install_failed"),
        (RuntimeError("a bug"), 424, "install_failed"),
    ],
)
def test_whatever_ends_a_build_is_a_json_error(
    fault: BaseException | None, status: int, kind: str
) -> None:
    router = Failing(fault)
    reply = asyncio.run(router.submit(call(requirements=["six"])))
    assert reply.status == status and json.loads(reply.body)["error"] == kind
    with pytest.raises(OwtError) as raised:
        asyncio.run(router.prepare(call(requirements=["six"])))
    assert raised.value.status == status
