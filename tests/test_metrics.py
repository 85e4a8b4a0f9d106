"""``/_owt/metrics`` after a mixed workload, read back with prometheus_client's own parser."""

from __future__ import annotations

import httpx
from conftest import call, wait_until
from prometheus_client.parser import text_string_to_metric_families

ECHO = "def run(name): return name"
FAIL = "def run(): raise ValueError('no')"
STREAM = "def run(n):\n    for i in range(n):\n        yield f'{i}\\n'\n"
SSE = "from owt.lib.stream import sse\ndef run(): return sse(['a', 'b'])\n"


def scrape(url: str, **kw) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(url + "/_owt/metrics", **kw)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_the_calls_made(start_server):
    server = start_server("--timeout", "10")
    url = server.url
    for n in range(5):
        assert call(url, ECHO, name=f"n{n}").status_code == 200
    for _ in range(2):
        assert call(url, FAIL).status_code == 500
    streamed = call(url, STREAM, n=3)
    assert streamed.text == "0\n1\n2\n"
    assert call(url, SSE).headers["content-type"].startswith("text/event-stream")
    assert httpx.post(url, json={}).status_code == 400  # missing_code
    cached = {"use_cache": True, "cache_key_override": "k"}
    for _ in range(3):
        assert call(url, ECHO, fields=cached, name="c").text == "c"

    samples = scrape(url)
    calls = "owt_calls_total"
    assert value(samples, calls, env="main", status="200", shape="whole") == 5 + 3
    assert value(samples, calls, env="main", status="500", shape="whole") == 2
    assert value(samples, calls, env="main", status="200", shape="stream") == 1
    assert value(samples, calls, env="main", status="200", shape="sse") == 1
    assert value(samples, calls, env="-", status="400", shape="whole") == 1
    assert value(samples, "owt_call_duration_seconds_count", env="main") == 12
    assert value(samples, "owt_call_duration_seconds_bucket", env="main", le="+Inf") == 12
    assert value(samples, "owt_response_bytes_total", env="main", shape="stream") == 6
    assert value(samples, "owt_cache_hits_total") == 2
    assert value(samples, "owt_cache_misses_total") == 1
    assert value(samples, "owt_cache_entries") == 1
    assert value(samples, "owt_cache_bytes") > 0
    assert value(samples, "owt_workers", env="main") == 1  # main: one worker process
    assert value(samples, "owt_queue_depth", env="*") == 0
    assert ("owt_busy_rejections_total", ()) in samples
    # /_owt/status has the same counts in brief
    calls = httpx.get(url + "/_owt/status").json()["calls"]
    assert calls["by_status"] == {"200": 10, "500": 2, "400": 1} and calls["answered"] == 13
    assert calls["errors"] == {"adaptor_error": 2, "missing_code": 1}


def test_an_adaptors_own_error_answer_is_no_owt_error_kind(start_server):
    """``({"error": ...}, 400)`` from an adaptor is its answer, not owt's error: its text is
    no metrics label (each value would be a series of its own), no status count, no error=."""
    server = start_server("--timeout", "10", "-v")
    own = "def run(k):\n    return ({'error': k, 'message': 'mine'}, 400)\n"
    for k in ("mine_1", "mine_2", "bad_request"):
        assert call(server.url, own, k=k).status_code == 400
    samples = scrape(server.url)
    kinds = {dict(labels).get("kind") for name, labels in samples if name == "owt_errors_total"}
    assert not kinds & {"mine_1", "mine_2"}, kinds
    status = httpx.get(server.url + "/_owt/status").json()["calls"]
    assert status["by_status"] == {"400": 3}
    assert "mine_1" not in status["errors"] and "mine_2" not in status["errors"]
    wait_until(lambda: server.log.count(" 400 ") >= 3)
    assert "error=mine" not in server.log


def test_metrics_show_worker_processes_and_their_restarts(start_server):
    server = start_server("--isolate", "--timeout", "2")
    assert call(server.url, ECHO, name="x").text == "x"
    r = call(server.url, "import os\ndef run(): os._exit(3)")
    assert r.status_code == 502
    # The replacement starts at once; the scrape may come before it is up.
    assert wait_until(lambda: value(scrape(server.url), "owt_workers", env="main") >= 1)
    samples = scrape(server.url)
    assert value(samples, "owt_worker_restarts_total", env="main") >= 1
    assert value(samples, "owt_calls_total", env="main", status="502", shape="whole") == 1
    assert value(samples, "owt_worker_timeout_kills_total", env="main") == 0
    r = call(server.url, "import time\ndef run():\n    time.sleep(30)", fields={"timeout": 0.5})
    assert r.status_code == 504

    def killed() -> bool:  # still running a moment after its deadline: its worker is drained
        return value(scrape(server.url), "owt_worker_timeout_kills_total", env="main") == 1

    assert wait_until(killed, timeout=10)


def test_metrics_need_credentials_like_every_owt_route(start_server):
    server = start_server("--token", "t0k")
    assert httpx.get(server.url + "/_owt/metrics").status_code == 401
    samples = scrape(server.url, headers={"authorization": "Bearer t0k"})
    assert ("owt_cache_hits_total", ()) in samples


class _Part:
    def __init__(self, status: dict) -> None:
        self._status = status

    def status(self) -> dict:
        return self._status

    def stats(self) -> dict:
        return self._status


def test_workers_of_every_kind_are_counted():
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, generate_latest

    from owt.server.metrics import CallMetrics, MetricsCollector

    ray = {
        "pools": [
            {"replaced": 2, "actors": [{"up": True, "busy": 1}, {"up": True, "busy": 0}]},
            {"replaced": 1, "actors": [{"up": False, "busy": 0}]},
        ]
    }
    built = {
        "state": "running",
        "build_seconds": 3.5,
        "workers": {"workers": [{"busy": 1}], "replaced": 0, "queued": 2},
    }
    # --in-process: one call on a thread, two async ones that hold none; busy counts calls
    in_process = {"threads": {"max": 8, "busy": 1}, "busy": 3}
    state = SimpleNamespace(
        cache=_Part({"entries": 0, "bytes": 0}),
        environments={"gpu": _Part(ray), "main": _Part(in_process)},
        limit=_Part({"waiting": 1, "rejected": 4}),
        requirements=_Part({"environments": {"k1": built, "k2": {"state": "building"}}}),
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricsCollector(CallMetrics(), lambda: state))
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert value(samples, "owt_workers", env="gpu") == 2
    assert value(samples, "owt_workers_busy", env="gpu") == 1
    assert value(samples, "owt_worker_restarts_total", env="gpu") == 3
    assert value(samples, "owt_workers", env="main") == 8
    assert value(samples, "owt_workers_busy", env="main") == 3
    assert value(samples, "owt_workers_busy", env="requirements:k1") == 1
    assert value(samples, "owt_queue_depth", env="requirements:k1") == 2
    assert value(samples, "owt_queue_depth", env="*") == 1
    assert value(samples, "owt_busy_rejections_total") == 4
    assert value(samples, "owt_env_builds", state="building") == 1
    assert value(samples, "owt_env_builds", state="running") == 1
    assert value(samples, "owt_env_build_seconds", key="k1") == 3.5
