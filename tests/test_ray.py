"""``--executor ray`` against a real Ray cluster on loopback (``raycluster.py``).

One owt server joins the session's cluster; a second raylet with a custom resource joins for
the two-node test. Faults of actors: ``test_ray_faults.py``.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OwtProcess, b64, call, status, wait_until
from raycluster import RAY_ENV, Cluster, listening, off_loopback, session_pids, signal_session

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def ray_server(ray_cluster: Cluster, bare_python: str) -> Iterator[OwtProcess]:
    server = OwtProcess(
        "--executor",
        "ray",
        "--ray-address",
        ray_cluster.address,
        "--env",
        f"main={sys.executable}:1",
        "--env",
        f"other={sys.executable}:1",
        "--env",
        f"bare={bare_python}:1",
        "--timeout",
        "30",
        "--lib",
        "example/lib",
        env=RAY_ENV,
        ready_timeout=120,
    )
    yield server
    server.stop()


WHERE = """
import os, ray
def run(request, name):
    return {"hello": name, "pid": os.getpid(), "path": request.path,
            "node": ray.get_runtime_context().get_node_id(), "q": request.args.get("q")}
"""


def test_a_call_runs_in_a_ray_actor(ray_server: OwtProcess) -> None:
    r = call(ray_server.url, WHERE, path="/hi?q=1", name="owt")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hello"] == "owt" and body["path"] == "/hi" and body["q"] == "1"
    assert body["pid"] != ray_server.pid
    r = call(ray_server.url, WHERE, name="again", fields={"env": "other"})
    assert r.status_code == 200, r.text
    assert r.json()["pid"] != body["pid"]  # another environment, another actor


def test_a_large_raw_body_reaches_an_actor_whole(ray_server: OwtProcess) -> None:
    # A body the server would stream to a worker crosses to an actor with its call, read
    # whole first: request.stream() gives it as one chunk there.
    code = "def run(request):\n    return [len(c) for c in request.stream()] + [len(request.data)]"
    r = httpx.post(
        ray_server.url + "/",
        params={"code_b64": b64(code)},
        content=b"x" * (3 * 1024 * 1024),
        headers={"content-type": "application/octet-stream"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json() == [3 * 1024 * 1024, 3 * 1024 * 1024]


def test_lib_modules_are_in_scope_in_actors(ray_server: OwtProcess) -> None:
    # --lib reaches the actors in their runtime_env, and worker processes beside them.
    for env in ("main", "bare"):
        fields = {"kwargs": {"__last__": "solve AGI"}, "env": env}
        r = call(ray_server.url, "f(sota.hard_task)", fields=fields)
        assert r.status_code == 200, r.text
        assert r.text == "solve AGI: done (solve ✓ → AGI ✓)\n"


def test_slow_sync_calls_on_one_actor_run_side_by_side(ray_server: OwtProcess) -> None:
    # One actor serves "main": its sync calls run on Ray's threads, not one after another
    # (as they would if Ray took the actor for an async one).
    code = "import time\ndef run(n):\n    time.sleep(1.5)\n    return n\n"
    call(ray_server.url, code, n=0)  # warm: compiled
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda n: call(ray_server.url, code, n=n), [1, 2]))
    assert [r.text for r in replies] == ["1", "2"]
    assert time.monotonic() - start < 2.8  # one after another would take 3 s or more


def test_errors_keep_their_kinds(ray_server: OwtProcess) -> None:
    r = call(ray_server.url, "def run():\n    return 1 / 0\n")
    assert r.status_code == 500 and r.json()["type"] == "ZeroDivisionError"
    r = call(ray_server.url, "def run(:\n")
    assert r.status_code == 422 and r.json()["error"] == "compile_error"
    r = call(ray_server.url, "def run(): return 1", fields={"num_gpus": "lots"})
    assert r.status_code == 400 and r.json()["field"] == "num_gpus"


def test_another_interpreter_runs_beside_its_actor(
    ray_server: OwtProcess, bare_python: str
) -> None:
    code = "import sys\ndef run():\n    yield sys.prefix\n    yield '|' + str('ray' in sys.modules)"
    r = call(ray_server.url, code, fields={"env": "bare"})
    assert r.status_code == 200, r.text
    assert r.text == f"{Path(bare_python).parent.parent}|False"


SLOW_STREAM = """
import time
def run(n, pause):
    for i in range(n):
        yield f"{i}\\n"
        time.sleep(pause)
"""


def test_stream_reaches_the_client_chunk_by_chunk(ray_server: OwtProcess) -> None:
    body = {"code_b64": b64(SLOW_STREAM), "kwargs": {"n": 3, "pause": 1.0}}
    start = time.monotonic()
    arrivals, chunks = [], []
    with httpx.stream("POST", ray_server.url + "/", json=body, timeout=30) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            if chunk:
                arrivals.append(time.monotonic() - start)
                chunks.append(chunk)
    assert b"".join(chunks) == b"0\n1\n2\n"
    assert arrivals[0] < 1.0 <= arrivals[-1]


def test_a_stream_that_fails_midway_is_cut(ray_server: OwtProcess) -> None:
    code = "def run():\n    yield 'a\\n'\n    raise ValueError('midway on ray')\n"
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),  # never a clean end
        httpx.stream("POST", ray_server.url + "/", json={"code_b64": b64(code)}, timeout=30) as r,
    ):
        for chunk in r.iter_raw():
            received += chunk
    assert received == b"a\n"
    assert wait_until(lambda: "ValueError: midway on ray" in ray_server.log)


ENDLESS = {
    "async": "import asyncio\nasync def run(marker):\n    try:\n        while True:\n"
    "            yield 'tick\\n'\n            await asyncio.sleep(0.2)\n"
    "    finally:\n        open(marker, 'w').write('closed')\n",
    "sync": "import time\ndef run(marker):\n    try:\n        while True:\n"
    "            yield 'tick\\n'\n            time.sleep(0.2)\n"
    "    finally:\n        open(marker, 'w').write('closed')\n",
}


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_client_disconnect_closes_the_remote_generator(
    ray_server: OwtProcess, tmp_path: Path, kind: str
) -> None:
    marker = tmp_path / "closed"
    body = {"code_b64": b64(ENDLESS[kind]), "kwargs": {"marker": str(marker)}}
    with httpx.stream("POST", ray_server.url + "/", json=body, timeout=30) as r:
        assert next(r.iter_raw()).startswith(b"tick")
    assert wait_until(marker.exists, timeout=15), "the generator's finally did not run"


def test_a_blocking_async_def_holds_up_no_def_generator_of_its_actor(
    ray_server: OwtProcess, tmp_path: Path
) -> None:
    """An ``async def`` that blocks its actor's loop stalls no ``def`` stream there: they are
    pumped, and taken by Ray, on a loop of their own."""
    blocking = "import time\nasync def run():\n    time.sleep(8)"
    three = (
        "import time\ndef run():\n    for i in range(3):\n"
        "        time.sleep(0.1)\n        yield str(i)"
    )
    other = {"env": "other"}
    marker = tmp_path / "closed"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(call, ray_server.url, blocking, fields={**other, "timeout": 5})
        time.sleep(1)
        started = time.monotonic()
        r = call(ray_server.url, three, fields=other)
        assert (r.status_code, r.text) == (200, "012"), r.text
        assert time.monotonic() - started < 3
        body = {"code_b64": b64(ENDLESS["sync"]), "kwargs": {"marker": str(marker)}, **other}
        with httpx.stream("POST", ray_server.url + "/", json=body, timeout=30) as r:
            assert next(r.iter_raw()).startswith(b"tick")
        assert wait_until(marker.exists, timeout=5), "the generator's finally did not run"
        assert not slow.done()
        assert slow.result().json()["error"] == "timeout"
    r = call(ray_server.url, "def run(): return 'ok'", fields=other, timeout=90)
    assert r.status_code == 200 and r.text == "ok"


KEEP = """
import os
def run():
    model = keep("model", lambda: {"loaded_by": %r, "pid": os.getpid()})
    return {**model, "version": %r}
"""


def test_keep_holds_objects_across_code_changes(ray_server: OwtProcess) -> None:
    first = call(ray_server.url, KEEP % ("v1", "v1"), fields={"env": "other"}).json()
    second = call(ray_server.url, KEEP % ("v2", "v2"), fields={"env": "other"}).json()
    assert second["version"] == "v2"
    assert second["loaded_by"] == "v1" and second["pid"] == first["pid"]


def test_actor_crash_is_502_then_replaced(ray_server: OwtProcess) -> None:
    before = call(ray_server.url, "import os\ndef run(): return os.getpid()").json()
    r = call(ray_server.url, "import os\ndef run(): os._exit(3)")
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "worker_died"
    after = call(ray_server.url, "import os\ndef run(): return os.getpid()", timeout=90)
    assert after.status_code == 200, after.text
    assert after.json() != before


def test_an_actor_that_dies_while_idle_is_replaced(ray_server: OwtProcess) -> None:
    def actors() -> list[dict[str, Any]]:
        env = status(ray_server)["environments"]["other"]
        return [a for pool in env["pools"] for a in pool["actors"]]

    assert call(ray_server.url, "def run(): return 1", fields={"env": "other"}).status_code == 200
    (actor,) = actors()
    os.kill(actor["pid"], signal.SIGKILL)
    assert wait_until(lambda: [a["actor_id"] for a in actors()] not in ([], [actor["actor_id"]]))
    assert wait_until(lambda: all(a["up"] for a in actors()), timeout=60)
    r = call(ray_server.url, "import os\ndef run(): return os.getpid()", fields={"env": "other"})
    assert r.status_code == 200 and r.json() != actor["pid"]


def test_unplaceable_resources_are_503_with_rays_reason(ray_server: OwtProcess) -> None:
    r = call(ray_server.url, "def run(): return 1", fields={"num_gpus": 1})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "busy"
    assert "infeasible" in r.json()["message"] and "GPU" in r.json()["message"]
    r = call(ray_server.url, "def run(): return 1", fields={"resources": {"tpu-pod": 4}})
    assert r.status_code == 503 and "tpu-pod" in r.json()["message"]


def test_least_recently_used_resource_shape_is_retired(ray_server: OwtProcess) -> None:
    # Each shape's actors hold cluster resources: past four shapes, the oldest idle goes.
    shapes = ["0.01", "0.02", "0.03", "0.04", "0.05"]
    for cpus in shapes:
        r = call(
            ray_server.url, "def run(): return 'ok'", fields={"env": "other", "num_cpus": cpus}
        )
        assert r.status_code == 200, r.text

    def shaped() -> list[float]:
        pools = status(ray_server)["environments"]["other"]["pools"]
        return sorted(p["placement"]["num_cpus"] for p in pools if p["placement"])

    assert shaped() == [0.02, 0.03, 0.04, 0.05]
    r = call(ray_server.url, "def run(): return 'ok'", fields={"env": "other", "num_cpus": "0.01"})
    assert r.status_code == 200 and r.text == "ok"  # back, in place of the next oldest
    assert shaped() == [0.01, 0.03, 0.04, 0.05]


def test_timeout_cancels_and_a_stuck_actor_is_replaced(ray_server: OwtProcess) -> None:
    code = "import time, os\ndef run():\n    time.sleep(120)\n"
    r = call(ray_server.url, code, fields={"timeout": 1, "env": "other"})
    assert r.status_code == 504 and r.json()["error"] == "timeout"

    def replaced() -> bool:
        env = status(ray_server)["environments"]["other"]
        return any(pool["replaced"] for pool in env["pools"])

    assert wait_until(replaced, timeout=30, every=0.5)
    r = call(ray_server.url, "def run(): return 'ok'", fields={"env": "other"}, timeout=90)
    assert r.status_code == 200 and r.text == "ok"


def test_status_shows_cluster_and_actors(ray_server: OwtProcess) -> None:
    envs = status(ray_server)["environments"]
    main = envs["main"]
    assert main["executor"] == "ray"
    assert main["cluster"]["nodes"] and main["cluster"]["resources"]["CPU"] >= 2
    actors = [a for pool in main["pools"] for a in pool["actors"]]
    assert actors and all(a["up"] and a["actor_id"] for a in actors)


def test_a_call_asking_for_a_resource_runs_on_the_node_that_has_it(
    ray_cluster: Cluster, ray_server: OwtProcess
) -> None:
    node = ray_cluster.add_node("--num-cpus=1", '--resources={"special": 1}')
    try:

        def joined() -> list[dict[str, Any]]:
            cluster = status(ray_server)["environments"]["main"]["cluster"]
            return [n for n in cluster["nodes"] if n["alive"] and "special" in n["resources"]]

        assert wait_until(lambda: bool(joined()), timeout=60, every=1)
        special_id = joined()[0]["node_id"]
        r = call(ray_server.url, WHERE, name="x", fields={"resources": {"special": 1}}, timeout=90)
        assert r.status_code == 200, r.text
        assert r.json()["node"] == special_id
        plain = call(ray_server.url, WHERE, name="y").json()
        assert plain["node"] != special_id
    finally:
        node.stop()


def test_requirements_become_a_pip_runtime_env(ray_server: OwtProcess) -> None:
    code = "import six, sys\ndef run():\n    return {'six': six.__version__, 'prefix': sys.prefix}"
    r = call(ray_server.url, code, fields={"requirements": ["six==1.16.0"]}, timeout=170)
    assert r.status_code == 200, r.text
    assert r.json()["six"] == "1.16.0" and "runtime_resources" in r.json()["prefix"]


def test_ray_client_addresses_stream_by_pulling(ray_cluster: Cluster) -> None:
    server = OwtProcess(
        "--executor",
        "ray",
        "--ray-address",
        ray_cluster.client_address,
        "--env",
        f"main={sys.executable}:1",
        env=RAY_ENV,
        ready_timeout=120,
    )
    try:
        body = {"code_b64": b64(SLOW_STREAM), "kwargs": {"n": 3, "pause": 1.0}}
        start = time.monotonic()
        arrivals, chunks = [], []
        with httpx.stream("POST", server.url + "/", json=body, timeout=30) as r:
            for chunk in r.iter_raw():
                arrivals.append(time.monotonic() - start)
                chunks.append(chunk)
        assert b"".join(chunks) == b"0\n1\n2\n"
        assert arrivals[0] < 1.0 <= arrivals[-1]
    finally:
        server.stop()


def test_owt_starts_and_stops_a_local_cluster() -> None:
    temp = tempfile.mkdtemp(prefix="owt-ray-", dir="/tmp")
    server = None
    try:
        server = OwtProcess(
            "--executor",
            "ray",
            "--env",
            f"main={sys.executable}:1",
            env={**RAY_ENV, "RAY_TMPDIR": temp},
            ready_timeout=120,
        )
        r = call(server.url, "def run(name): return f'hi {name}'", name="local")
        assert r.status_code == 200 and r.text == "hi local"
        assert status(server)["environments"]["main"]["cluster"]["started_here"] is True
        # Ray's ports run any code sent to them: a cluster of this machine only listens on
        # loopback (GCS, raylet, the actor's worker, Ray's agents), and has no dashboard.
        addresses = listening(session_pids(server.pid))
        assert len(addresses) > 3, addresses
        assert not off_loopback(addresses), addresses
        assert server.stop() == 0
        assert wait_until(lambda: not session_pids(server.pid), timeout=20)
    finally:
        if server is not None:
            server.stop()
            signal_session(server.pid, signal.SIGKILL)  # its session holds its cluster
        shutil.rmtree(temp, ignore_errors=True)


def test_a_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from owt.executors import load_executor

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "owt.executors.ray.executor", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'owt\[ray\]'"):
        load_executor("ray")
    # `owt serve --executor ray` says so in one line before it starts anything.
    from owt.config import Settings, SettingsError

    with pytest.raises(SettingsError, match=r"pip install 'owt\[ray\]'"):
        Settings(executor="ray").check()


@pytest.mark.parametrize(
    ("fields", "placement"),
    [
        ({"num_gpus": "0.5", "memory": "2e9"}, {"num_gpus": 0.5, "memory": 2000000000}),
        (
            {"num_cpus": 2, "accelerator_type": "A100"},
            {"num_cpus": 2.0, "accelerator_type": "A100"},
        ),
        ({"resources": '{"special": 1}'}, {"resources": {"special": 1.0}}),
        ({"num_gpus": "", "resources": {}}, None),
    ],
)
def test_placement_fields_are_read(fields: dict[str, Any], placement: Any) -> None:
    from owt.core.call import Request
    from owt.server.protocol import call_from_fields

    c = call_from_fields(fields, Request(), "x", allow_eval=False, default_timeout=1)
    assert c.options.get("placement") == placement


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"num_gpus": "lots"}, "num_gpus"),
        ({"num_gpus": 1.5}, "num_gpus"),
        ({"num_cpus": -1}, "num_cpus"),
        ({"memory": True}, "memory"),
        ({"accelerator_type": "A100; rm -rf"}, "accelerator_type"),
        ({"resources": "[1]"}, "resources"),
        ({"resources": {"special": "x"}}, "resources"),
    ],
)
def test_bad_placement_fields_are_400(fields: dict[str, Any], field: str) -> None:
    from owt.core.call import Request
    from owt.core.errors import BadRequest
    from owt.server.protocol import call_from_fields

    with pytest.raises(BadRequest) as caught:
        call_from_fields(fields, Request(), "x", allow_eval=False, default_timeout=1)
    assert caught.value.extra["field"] == field


def test_ray_request_names_rays_resources() -> None:
    from owt.executors.ray.cluster import actor_options, ray_request

    placement = {"num_gpus": 1.0, "accelerator_type": "A100", "resources": {"special": 1.0}}
    assert ray_request(placement) == {"GPU": 1.0, "accelerator_type:A100": 0.001, "special": 1.0}
    assert actor_options(placement) == placement
