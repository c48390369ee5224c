"""This machine as a partner with one node: the launch command runs as a local process group.

Each node is a JSON file plus a pid file in `state_dir`, so describe/terminate/list work from any
process and across broker restarts. user_data is the node's launch command (a shell script); it gets
`NODE_PORT` (a free loopback port), and the node's endpoint is http://127.0.0.1:<port>.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from .base import (
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    RENTAL_TAG,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
)
from .nvml import gpu_model_name, local_gpus
from .processes import is_running, kill_group, start_process

DEFAULT_STATE_DIR = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "gpu-broker-local"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalAdapter:
    kind = "local"

    def __init__(self, *, base_url: str = "", credentials: dict | None = None, state_dir: str | Path | None = None,
                 instance_type: str = "local", region: str = "local", price_per_hour: float = 0.0,
                 nvml: ModuleType | None = None):
        self.state_dir = Path(state_dir or DEFAULT_STATE_DIR)
        self.instance_type, self.region, self.price_per_hour = instance_type, region, price_per_hour
        self.nvml = nvml

    def verify(self) -> list[str]:
        """No credentials: reading the local GPUs through NVML is the whole check."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer when NVML sees GPUs (none otherwise), available while no node is running."""
        gpus = local_gpus(self.nvml)
        if not gpus:
            return []
        return [ProviderOffer(
            instance_type=self.instance_type, gpu=gpu_model_name(gpus[0].name), gpus_per_node=len(gpus),
            vcpus=float(os.cpu_count() or 0), memory_gb=_memory_gb(), region=self.region,
            price_per_hour=self.price_per_hour, available_nodes=0 if self._live() else 1,
            interconnect="pcie",
        )]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Run spec.user_data as the node's process; the same idempotency key returns the same node."""
        with self._locked():
            existing = next((r for r in self._records() if r["idempotency_key"] == spec.idempotency_key), None)
            if existing is not None:
                return self._node(existing)
            self._validate(spec)
            if self._live():
                raise ProviderError(NO_CAPACITY, "the local machine already runs a node")
            record = {"id": uuid.uuid4().hex[:16], "idempotency_key": spec.idempotency_key,
                      "instance_type": spec.instance_type, "region": spec.region, "tags": spec.node_tags(),
                      "port": _free_port(), "created_at": time.time(), "terminated_at": None}
            env = {"NODE_ID": record["id"], "NODE_PORT": str(record["port"]), "PORT": str(record["port"]),
                   "NODE_HOST": "127.0.0.1"}
            if spec.ssh_public_key:
                env["SSH_PUBLIC_KEY"] = spec.ssh_public_key
            start_process(spec.user_data, state_dir=self.state_dir, name=record["id"], env=env)
            self._save(record)
            return self._node(record)

    def describe(self, ref: str) -> NodeInfo:
        """The node's state: running while its process lives, failed when it exited on its own."""
        return self._node(self._load(ref))

    def terminate(self, ref: str) -> None:
        """Kill the node's process group; an unknown or finished node is already gone."""
        with self._locked():
            try:
                record = self._load(ref)
            except ProviderError:
                return
            kill_group(self.state_dir, ref)
            if record["terminated_at"] is None:
                record["terminated_at"] = time.time()
                self._save(record)

    def list_nodes(self) -> list[NodeInfo]:
        """Nodes not terminated by the broker that carry the rental tag (failed ones included)."""
        return [self._node(r) for r in self._records()
                if r["terminated_at"] is None and RENTAL_TAG in r["tags"]]

    # -- state files -----------------------------------------------------------------------------
    def _validate(self, spec: ProvisionSpec) -> None:
        if (spec.instance_type, spec.region) != (self.instance_type, self.region):
            raise ProviderError(INVALID_REQUEST, f"the local partner sells {self.instance_type!r} in {self.region!r}")
        if not spec.user_data.strip():
            raise ProviderError(INVALID_REQUEST, "user_data (the node's launch command) is required")
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "the local machine is not sold as spot")

    def _live(self) -> bool:
        return any(r["terminated_at"] is None and is_running(self.state_dir, r["id"]) for r in self._records())

    def _node(self, record: dict) -> NodeInfo:
        if record["terminated_at"] is not None:
            state = "terminated"
        else:
            state = "running" if is_running(self.state_dir, record["id"]) else "failed"
        return NodeInfo(ref=record["id"], state=state, region=record["region"], instance_type=record["instance_type"],
                        ip="127.0.0.1", tags=record["tags"], endpoint=f"http://127.0.0.1:{record['port']}")

    def _records(self) -> Iterator[dict]:
        for path in sorted(self.state_dir.glob("*.json")):
            yield json.loads(path.read_text())

    def _load(self, ref: str) -> dict:
        path = self.state_dir / f"{ref}.json"
        if "/" in ref or not path.is_file():
            raise ProviderError(NOT_FOUND, f"no local node {ref!r}")
        return json.loads(path.read_text())

    def _save(self, record: dict) -> None:
        tmp = self.state_dir / f".{record['id']}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(self.state_dir / f"{record['id']}.json")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _memory_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return 0.0
