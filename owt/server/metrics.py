"""``/_owt/metrics``: Prometheus text, written by ``prometheus-client``.

Per call the server only adds to a few numbers in plain dicts (:meth:`CallMetrics.record`,
on the event loop, no locks); everything else — the cache, workers, queues, environment
builds — is read from the parts' own ``status()`` when a scraper asks. The families::

    owt_calls_total{env,status,shape}          calls answered (499: its client had gone)
    owt_errors_total{env,kind}                 calls answered with owt's JSON error, by kind
    owt_call_duration_seconds{env}             histogram: request in → last byte out
    owt_response_bytes_total{env,shape}        body bytes sent (shape=stream|sse: streamed)
    owt_cache_hits_total, owt_cache_misses_total, owt_cache_stores_total,
    owt_cache_evictions_total, owt_cache_bytes, owt_cache_entries
    owt_workers{env}, owt_workers_busy{env}    worker processes, Ray actors (or threads) alive /
                                               busy; env="requirements:KEY" for a built set
    owt_worker_restarts_total{env}             workers replaced (died, retired, timed out)
    owt_worker_timeout_kills_total{env}        workers killed for a call's timeout
    owt_queue_depth{env}                       calls waiting (env="*": --max-concurrency)
    owt_busy_rejections_total                  calls refused 503 by --max-concurrency
    owt_env_builds{state}                      requirement environments by state
    owt_env_build_seconds{key}                 how long each environment took to build
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["BUCKETS", "CallMetrics", "MetricsCollector", "metrics_route"]

#: Latency buckets in seconds: warm calls take well under a millisecond, models seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class CallMetrics:
    """Counts of answered calls; :meth:`record` is the whole per-call cost."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str, str], int] = {}
        self.bytes: dict[tuple[str, str], int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        # env → [count per bucket (+Inf last), sum of seconds]
        self.latency: dict[str, tuple[list[int], list[float]]] = {}

    def record(
        self,
        env: str,
        status: int,
        shape: str,
        seconds: float,
        nbytes: int,
        kind: str | None = None,
    ) -> None:
        key = (env, str(status), shape)
        self.calls[key] = self.calls.get(key, 0) + 1
        if kind is not None:
            wrong = (env, kind)
            self.errors[wrong] = self.errors.get(wrong, 0) + 1
        out = (env, shape)
        self.bytes[out] = self.bytes.get(out, 0) + nbytes
        hist = self.latency.get(env)
        if hist is None:
            hist = self.latency[env] = ([0] * (len(BUCKETS) + 1), [0.0])
        hist[0][bisect_left(BUCKETS, seconds)] += 1
        hist[1][0] += seconds

    def summary(self) -> dict[str, Any]:
        """The counts in brief, for ``/_owt/status``: calls by status, errors by kind."""
        statuses: dict[str, int] = {}
        for (_, status, _), count in list(self.calls.items()):
            statuses[status] = statuses.get(status, 0) + count
        kinds: dict[str, int] = {}
        for (_, kind), count in list(self.errors.items()):
            kinds[kind] = kinds.get(kind, 0) + count
        return {"answered": sum(statuses.values()), "by_status": statuses, "errors": kinds}

    def families(self) -> Iterator[Metric]:
        calls = self.calls.items()
        yield _counter("owt_calls", "Calls answered.", ["env", "status", "shape"], calls)
        yield _counter(
            "owt_errors", "Calls answered with owt's JSON error, by its kind.",
            ["env", "kind"], self.errors.items(),
        )  # fmt: skip
        yield _counter(
            "owt_response_bytes", "Body bytes sent (shape stream or sse: streamed).",
            ["env", "shape"], self.bytes.items(),
        )  # fmt: skip
        latency = HistogramMetricFamily(
            "owt_call_duration_seconds", "From request to the last byte sent.", labels=["env"]
        )
        for env, (counts, total) in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([env], buckets, total[0])
        yield latency


def _counter(
    name: str, text: str, labels: list[str], counts: Iterable[tuple[Sequence[str], int]]
) -> CounterMetricFamily:
    """A counter family with one sample per label values (``dict.items()``), in order."""
    family = CounterMetricFamily(name, text, labels=labels)
    for values, count in sorted(counts):
        family.add_metric(values, count)
    return family


class MetricsCollector:
    """A prometheus-client collector over the call counts and the server's parts' status."""

    def __init__(self, calls: CallMetrics, state: Callable[[], Any]) -> None:
        self.calls = calls
        self.state = state  # () → owt.server.app.State, read at each scrape

    def collect(self) -> Iterator[Metric]:
        yield from self.calls.families()
        state = self.state()
        yield from _cache_families(state.cache.stats())
        environments = {name: executor.status() for name, executor in state.environments.items()}
        requirements = state.requirements.status() if state.requirements else {}
        builds = requirements.get("environments", {})
        for key, env in builds.items():  # a built requirements set runs in workers of its own
            if isinstance(env.get("workers"), dict):
                environments[f"requirements:{key}"] = env["workers"]
        yield from _worker_families(environments, state.limit.status())
        yield from _build_families(builds)


def _cache_families(stats: dict[str, Any]) -> Iterator[Metric]:
    for name, key, text in (
        ("owt_cache_hits", "hits", "Calls answered from the response cache."),
        ("owt_cache_misses", "misses", "Cacheable calls that had to run."),
        ("owt_cache_stores", "stores", "Responses stored."),
        ("owt_cache_evictions", "evictions", "Responses evicted to stay within the bound."),
    ):
        yield CounterMetricFamily(name, text, value=stats.get(key, 0))
    yield GaugeMetricFamily("owt_cache_bytes", "Bytes held by the cache.", value=stats["bytes"])
    yield GaugeMetricFamily("owt_cache_entries", "Responses held.", value=stats["entries"])


def _worker_counts(status: dict[str, Any]) -> tuple[int, int, int]:
    """(alive, busy, replaced) from an executor's status: worker processes, Ray actors, or
    threads in the server."""
    if isinstance(status.get("workers"), list):  # worker processes, the draining ones too
        workers = [*status["workers"], *status.get("draining", [])]
        busy = sum(1 for w in workers if w.get("busy"))
        return len(workers), busy, int(status.get("replaced") or 0)
    if isinstance(status.get("pools"), list):  # Ray actors, one pool per resource shape
        actors = [a for pool in status["pools"] for a in pool.get("actors", [])]
        alive = sum(1 for a in actors if a.get("up", True))
        busy = sum(1 for a in actors if a.get("busy"))
        return alive, busy, sum(int(pool.get("replaced") or 0) for pool in status["pools"])
    threads = status.get("threads")
    if isinstance(threads, dict):
        # calls running, as /_owt/status counts them: an async one holds no thread
        running = status.get("busy") or threads.get("busy") or 0
        return int(threads.get("max", 0)), int(running), 0
    return 0, 0, 0


def _worker_families(
    environments: dict[str, dict[str, Any]], limit: dict[str, Any]
) -> Iterator[Metric]:
    alive = GaugeMetricFamily("owt_workers", "Workers (or threads) alive.", labels=["env"])
    busy = GaugeMetricFamily("owt_workers_busy", "Workers running calls.", labels=["env"])
    restarts = CounterMetricFamily(
        "owt_worker_restarts", "Workers replaced (died, retired, timed out).", labels=["env"]
    )
    kills = CounterMetricFamily(
        "owt_worker_timeout_kills", "Workers killed for a call's timeout.", labels=["env"]
    )
    queue = GaugeMetricFamily("owt_queue_depth", "Calls waiting.", labels=["env"])
    for env, status in sorted(environments.items()):
        count, running, replaced = _worker_counts(status)
        alive.add_metric([env], count)
        busy.add_metric([env], running)
        restarts.add_metric([env], replaced)
        if "killed_for_timeout" in status:
            kills.add_metric([env], status["killed_for_timeout"])
        queue.add_metric([env], status.get("queued", 0))
    queue.add_metric(["*"], limit.get("waiting", 0))
    yield from (alive, busy, restarts, kills, queue)
    yield CounterMetricFamily(
        "owt_busy_rejections", "Calls refused by --max-concurrency.", value=limit["rejected"]
    )


def _build_families(envs: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    by_state: dict[str, int] = {"building": 0, "running": 0, "failed": 0}
    seconds = GaugeMetricFamily(
        "owt_env_build_seconds", "Seconds each requirements environment took to build.",
        labels=["key"],
    )  # fmt: skip
    for key, env in sorted(envs.items()):
        state = str(env.get("state", "unknown"))
        by_state[state] = by_state.get(state, 0) + 1
        if env.get("build_seconds") is not None:
            seconds.add_metric([key], env["build_seconds"])
    builds = GaugeMetricFamily(
        "owt_env_builds", "Requirements environments by state.", labels=["state"]
    )
    for state, count in sorted(by_state.items()):
        builds.add_metric([state], count)
    yield builds
    yield seconds


def metrics_route(calls: CallMetrics, state: Callable[[], Any]) -> Route:
    """``GET /_owt/metrics``: the current metrics as Prometheus text."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricsCollector(calls, state))

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), headers={"content-type": CONTENT_TYPE_LATEST})

    return Route("/_owt/metrics", metrics)
