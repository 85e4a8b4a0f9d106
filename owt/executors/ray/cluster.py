"""The Ray side of ``--executor ray``: the connection, placement checks, Ray's errors.

The connection to Ray is process-wide in Ray itself (``ray.init``), so it is counted here
process-wide too: every environment of the server connects on start and disconnects on
close; the last one out shuts Ray down (a local cluster stops; a joined one only loses this
driver). Ray is imported inside the functions: this module imports without it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import owt
from owt.core.errors import InstallFailed, OwtError, WorkerDied

__all__ = [
    "RayCluster",
    "actor_options",
    "death_cause",
    "local_options",
    "ray_request",
    "translate",
]

log = logging.getLogger(__name__)

OWT_DIR = str(Path(owt.__file__).resolve().parent)
LOOPBACK = "127.0.0.1"


def ray_request(placement: dict[str, Any]) -> dict[str, float]:
    """The Ray resources a placement asks of one node.

    >>> ray_request({"num_gpus": 1, "accelerator_type": "A100", "resources": {"special": 1}})
    {'GPU': 1.0, 'accelerator_type:A100': 0.001, 'special': 1.0}
    """
    request: dict[str, float] = {}
    for name, key in (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory")):
        if placement.get(name):
            request[key] = float(placement[name])
    if placement.get("accelerator_type"):
        request[f"accelerator_type:{placement['accelerator_type']}"] = 0.001
    for key, amount in (placement.get("resources") or {}).items():
        if amount:
            request[key] = float(amount)
    return request


def actor_options(placement: dict[str, Any]) -> dict[str, Any]:
    """Ray's ``.options(...)`` for an actor with this placement."""
    names = ("num_cpus", "num_gpus", "memory", "accelerator_type")
    options = {k: placement[k] for k in names if placement.get(k) is not None}
    if placement.get("resources"):
        options["resources"] = dict(placement["resources"])
    return options


class RayCluster:
    """The cluster the server's environments run on.

    ``address`` None starts a local cluster with the server (``num_cpus`` CPUs, no
    dashboard); ``auto`` or ``HOST:PORT`` joins a running cluster as a driver;
    ``ray://HOST:10001`` connects through Ray Client. The ``owt`` package travels with the
    job (``py_modules``), so the cluster's nodes need only Ray.
    """

    _users: ClassVar[int] = 0  # environments connected in this process
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _last_status: ClassVar[tuple[float, dict[str, Any]]] = (0.0, {})

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        self.address = address or None
        self.num_cpus = num_cpus
        # Ray Client (ray://) has no streaming generators: streams are pulled chunk by chunk.
        self.client = bool(self.address and self.address.startswith("ray://"))
        self.started_here = False
        self._seen: tuple[float, list[dict[str, Any]]] = (0.0, [])

    def connect(self) -> None:
        import ray

        with RayCluster._lock:
            RayCluster._users += 1
            if ray.is_initialized():
                return
            options: dict[str, Any] = {
                "runtime_env": {"py_modules": [OWT_DIR], "excludes": ["__pycache__"]},
                "log_to_driver": True,
            }
            if self.address is None:
                options.update(local_options(self.num_cpus))
            else:
                options["address"] = self.address
            main = threading.current_thread() is threading.main_thread()
            sigterm = signal.getsignal(signal.SIGTERM) if main else None
            try:
                ray.init(**options)
            except BaseException:
                RayCluster._users -= 1
                raise
            finally:
                if main:  # ray.init sets its own SIGTERM handler; the server's must stay
                    signal.signal(signal.SIGTERM, sigterm)
            self.started_here = self.address is None
            if self.started_here:
                _check_loopback(ray)
            log.info("ray: connected to %s", self.address or "a new local cluster")

    def disconnect(self) -> None:
        import ray

        with RayCluster._lock:
            RayCluster._users -= 1
            if RayCluster._users <= 0 and ray.is_initialized():
                ray.shutdown()

    def nodes(self, max_age: float = 1.0) -> list[dict[str, Any]]:
        """The cluster's nodes (``ray.nodes()``), remembered for ``max_age`` seconds."""
        import ray

        seen_at, nodes = self._seen
        if time.monotonic() - seen_at > max_age:
            nodes = ray.nodes()
            self._seen = (time.monotonic(), nodes)
        return nodes

    def unplaceable(self, request: dict[str, float]) -> str | None:
        """Why no node can ever hold ``request`` (Ray would keep it pending), or None."""
        if not request:
            return None
        alive = [n for n in self.nodes(max_age=0.5) if n.get("Alive")]
        for node in alive:
            total = node.get("Resources", {})
            if all(total.get(key, 0.0) >= amount for key, amount in request.items()):
                return None
        wanted = ", ".join(f"{k}: {v:g}" for k, v in request.items())
        shapes = sorted({_describe(n.get("Resources", {})) for n in alive})
        return (
            f"no node of the Ray cluster can hold {{{wanted}}}: Ray finds this resource "
            f"request infeasible (the {len(alive)} node(s) have: {'; '.join(shapes)})"
        )

    def status(self) -> dict[str, Any]:
        """Nodes and resources, asked of Ray at most once a second for every environment."""
        seen_at, known = RayCluster._last_status
        if time.monotonic() - seen_at < 1.0:
            return known
        RayCluster._last_status = (time.monotonic(), self._read_status())
        return RayCluster._last_status[1]

    def _read_status(self) -> dict[str, Any]:
        import ray

        try:
            nodes = self.nodes()
            total, free = ray.cluster_resources(), ray.available_resources()
        except Exception as exc:  # the status page answers even when the cluster does not
            return {"address": self.address, "error": f"{type(exc).__name__}: {exc}"}
        return {
            "address": self.address or "local",
            "started_here": self.started_here,
            "resources": _public(total),
            "available": _public(free),
            "nodes": [
                {
                    "node_id": n.get("NodeID"),
                    "address": n.get("NodeManagerAddress"),
                    "alive": n.get("Alive"),
                    "resources": _public(n.get("Resources", {})),
                }
                for n in nodes
            ],
        }


def local_options(num_cpus: int | None) -> dict[str, Any]:
    """``ray.init`` options for a cluster of this machine only: every Ray process (GCS,
    raylet, workers, agents) listens on loopback, and there is no dashboard.

    Ray's ports run whatever code reaches them, and a local cluster has no other node to
    talk to. Ray binds its servers to loopback only when the node's address is 127.0.0.1,
    but on Linux it turns a given 127.0.0.1 into the machine's address (one other nodes
    could reach) unless it believes it forms no multi-node cluster
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read once at import, hence the constant).
    """
    import ray._private.ray_constants as ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    options: dict[str, Any] = {
        "address": "local",
        "include_dashboard": False,
        "_node_ip_address": LOOPBACK,
    }
    if num_cpus is not None:
        options["num_cpus"] = num_cpus
    return options


def _check_loopback(ray: Any) -> None:
    """Stop a local cluster that came up on an address other nodes can reach."""
    address = ray.util.get_node_ip_address()
    if address != LOOPBACK:
        ray.shutdown()
        raise RuntimeError(
            f"the local Ray cluster came up on {address}, not on loopback only: this Ray "
            f"({ray.__version__}) did not keep to 127.0.0.1, so owt stopped it. Start a "
            "cluster yourself on a private network (ray start --head) and pass --ray-address"
        )


def _public(resources: dict[str, float]) -> dict[str, float]:
    """Resources without Ray's per-node markers (``node:10.0.0.1``)."""
    return {k: v for k, v in sorted(resources.items()) if not k.startswith("node:")}


def _describe(resources: dict[str, float]) -> str:
    shown = {k: v for k, v in _public(resources).items() if "memory" not in k}
    return ", ".join(f"{k}: {v:g}" for k, v in shown.items()) or "nothing"


def death_cause(exc: BaseException) -> str:
    """What Ray says of an actor's death (``The actor is dead because ...``), or nothing."""
    lines = str(exc).strip().splitlines()
    cause = next((line for line in lines if line.startswith("The actor is dead")), "")
    return cause.split(" Some common causes")[0]  # Ray's advice on OOM killers follows


def translate(exc: BaseException) -> OwtError:
    """Ray's errors → owt's: the one place that knows Ray's exception classes."""
    from ray.exceptions import RayActorError, RayTaskError, RuntimeEnvSetupError

    if isinstance(exc, RayTaskError) and exc.cause is not None:
        exc = exc.cause  # our own actor code raised: say what, not where in Ray
    text = str(exc).strip()
    lines = text.splitlines() or [type(exc).__name__]
    if isinstance(exc, RuntimeEnvSetupError) or "runtime env" in text.lower():
        return InstallFailed(
            f"Ray could not set up the environment: {lines[0]}", log_tail="\n".join(lines[-20:])
        )
    if isinstance(exc, RayActorError):
        cause = death_cause(exc)
        return WorkerDied(f"the Ray actor died during the call. {cause}".strip(), exit_code=None)
    return WorkerDied(f"Ray failed the call: {type(exc).__name__}: {lines[0]}", exit_code=None)
