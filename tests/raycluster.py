"""A real Ray cluster on loopback for the ``--executor ray`` tests.

One head node (2 CPUs) is started for the session with ``ray start --head --block`` in its own
session; more raylets may join it. Every Ray process started here is stopped by its id at the
end (``ray start --block`` stops what it started when terminated; anything left in its session
is killed), and every Ray temp folder made here is removed.

Joined at 127.0.0.1, its processes still listen on every interface (auth off): Ray keeps a
node to loopback only where it forms no multi-node cluster (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
docs/cluster.md), and a node refuses to join such a head, which the two-node tests need.
Run these tests on a machine whose network you trust. owt's own local cluster does keep to
loopback (``test_owt_starts_and_stops_a_local_cluster``).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, wait_until

RAY = str(Path(sys.executable).with_name("ray"))
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def session_pids(sid: int) -> list[int]:
    """Processes in session ``sid`` (every Ray process a ``ray start`` made is in its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def listening(pids: list[int]) -> set[str]:
    """``ADDRESS:PORT`` of every TCP socket of these processes that listens (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:  # it ended, or a descriptor closed, since the listing
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as file:
            for row in file.readlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    found.add(_address(fields[1]))
    return found


def _address(hex_address: str) -> str:
    """``0100007F:1F90`` → ``127.0.0.1:8080`` (the kernel writes each 32-bit word in host order)."""
    host, port = hex_address.split(":")
    raw = b"".join(bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, len(host), 8))
    ip = ipaddress.ip_address(raw)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return f"{ip}:{int(port, 16)}"


def off_loopback(addresses: set[str]) -> set[str]:
    """The addresses that other machines could reach (not 127.0.0.1 or ::1)."""
    return {a for a in addresses if not ipaddress.ip_address(a.rsplit(":", 1)[0]).is_loopback}


def signal_session(sid: int, sig: int) -> None:
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:  # it ended since the listing
            pass


class RayNode:
    """``ray start ... --block`` in a session of its own, with its own temp folder."""

    def __init__(self, *args: str) -> None:
        self.temp = tempfile.mkdtemp(prefix="owt-ray-", dir="/tmp")  # sockets: keep it short
        command = [RAY, "start", "--block", "--disable-usage-stats", f"--temp-dir={self.temp}"]
        command += ["--node-ip-address=127.0.0.1", *args]
        command += [f"--dashboard-agent-listen-port={free_port()}"]
        self.proc = subprocess.Popen(
            command,
            env={**os.environ, **RAY_ENV},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        # As ``ray stop`` does, but only for this node: SIGTERM each of its processes, then
        # SIGKILL what is left (``ray start --block`` alone takes ~20 s to drain a node).
        signal_session(self.proc.pid, signal.SIGTERM)
        if not wait_until(lambda: not session_pids(self.proc.pid), timeout=3, every=0.1):
            signal_session(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        shutil.rmtree(self.temp, ignore_errors=True)


class Cluster:
    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_address = f"ray://127.0.0.1:{free_port()}"
        self.head = RayNode(
            "--head",
            f"--port={self.port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            f"--ray-client-server-port={self.client_address.rsplit(':', 1)[1]}",
        )
        self.nodes: list[RayNode] = []
        ok = wait_until(lambda: self._status_ok(), timeout=60, every=0.5)
        if not ok:
            self.stop()
            raise RuntimeError("the Ray head did not start")

    def _status_ok(self) -> bool:
        if self.head.proc.poll() is not None:
            raise RuntimeError(f"ray start --head exited with {self.head.proc.returncode}")
        probe = subprocess.run(
            [RAY, "status", f"--address={self.address}"],
            env={**os.environ, **RAY_ENV},
            capture_output=True,
        )
        return probe.returncode == 0

    def add_node(self, *args: str) -> RayNode:
        node = RayNode(f"--address={self.address}", *args)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in [*self.nodes, self.head]:
            node.stop()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    """The session's cluster (see ``conftest.py``, which offers this fixture)."""
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
