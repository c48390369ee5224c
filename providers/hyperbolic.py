"""Adapter for Hyperbolic's GPU marketplace API: GPUs rented from the machines of Hyperbolic's suppliers.

Reference: https://docs.hyperbolic.xyz/docs/marketplace-api (`Authorization: Bearer <api key>`), with the field
meanings Hyperbolic's own clients use (github.com/HyperbolicLabs/Hyperbolic-AgentKit, coinbase/agentkit's
`hyperboliclabs` provider: prices are cents per GPU-hour, GPU RAM in MB) and SkyPilot's Hyperbolic provisioner
(sky/provision/hyperbolic: instance statuses `creating`, `starting`, `online`, `failed`, `error`, `terminated`; the
login from `sshCommand`, `ssh <user>@<host> -p <port>`; `userMetadata` on an instance). Transcription of the
operations used: docs/vendor/hyperbolic-marketplace.yaml. Endpoints used:
`POST /v1/marketplace` (`{"filters": {}}`: the machines, each with `gpus_total`, `gpus_reserved`, `status`
`node_ready`, `cluster_name`, hardware and `pricing.price.amount`), `POST /v1/marketplace/instances/create`
(`cluster_name`, `node_name` = a machine's `id`, `gpu_count`), `GET /v1/marketplace/instances` and
`POST /v1/marketplace/instances/terminate` (`{"id": …}`). Errors carry `message`; 401 is a bad key.

A broker instance type is the catalogue's (SkyPilot's) spelling `<n>x-<GPU>-<vCPUs>-<RAM GB>`: n GPUs of one model
with their share of a machine's CPUs and RAM, in the one region `default` (a create names a machine, not a
location). Offers are every GPU count a ready machine has, priced n × its price per GPU-hour, the available nodes
summed over the machines of that shape with n GPUs free; a launch takes the cheapest machine of the shape with n
GPUs free. Hyperbolic has neither idempotency keys nor instance names: the create call carries the node's tags,
and a hash of the idempotency key, as `userMetadata`, which a repeated launch looks for first. Hyperbolic sells no
spot here, so a spot launch is refused; it has no firewall call, so the launch's ports are as the machine serves
them. The create call takes no startup script either: the adapter is SSH-launched (`ssh_target`), the broker
logs in with the account's key (`ssh_private_key`; its public half is registered in the Hyperbolic account) and
starts the plan itself (`providers.ssh_launch`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import requests

from .base import (
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    TRANSIENT,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    SshTarget,
    already_gone_is_terminated,
)
from .http import HttpClient, error_kind_from_message, json_or_error

BASE_URL = "https://api.hyperbolic.xyz"
REGION = "default"
READY = "node_ready"
KEY_TAG = "gpu-broker:key"  # the idempotency key's hash, in the instance's userMetadata
INSTANCE_TYPE_RE = re.compile(r"^(?P<n>\d+)x-(?P<gpu>[A-Za-z0-9]+)-(?P<cpus>\d+)-(?P<ram>\d+)$")
SSH_COMMAND_RE = re.compile(r"^ssh\s+(?:(?P<user>[^@\s]+)@)?(?P<host>[^\s:]+)(?:\s+-p\s*(?P<port>\d+))?")
# The model string's parts that name a memory size, form factor or memory type rather than the GPU.
SPEC_PART = re.compile(r"^(\d+GB?|SXM\d*|PCIE|HBM\w*|NVL|NVLINK)$", re.IGNORECASE)
_STATE_BY_STATUS = {"creating": "pending", "starting": "pending", "online": "running", "failed": "failed",
                    "error": "failed", "terminated": "terminated"}
LIVE = frozenset({"pending", "running"})
_CAPACITY_WORDS = ("not enough", "no gpus", "unavailable", "not available", "reserved", "capacity")
_QUOTA_WORDS = ("balance", "limit", "credits")


def gpu_short_name(model: str) -> str:
    """A Hyperbolic GPU model string as the instance types spell the GPU: 'NVIDIA-H100-80GB-HBM3' → 'H100',
    'NVIDIA-GeForce-RTX-4090' → 'RTX4090', 'NVIDIA-A100-SXM4-80GB' → 'A100'."""
    parts = [p for p in model.removeprefix("NVIDIA-").split("-") if p and p.upper() != "GEFORCE"]
    return "".join(p for p in parts if not SPEC_PART.match(p)) or model


def instance_type_of(model: str, gpus: int, machine: dict) -> str:
    """The instance type of `gpus` GPUs of a machine: its model and its CPU and RAM share for that many."""
    total = max(int(machine.get("gpus_total") or 0), 1)
    cpus, ram = _machine_cpus(machine), _machine_ram_gb(machine)
    return f"{gpus}x-{gpu_short_name(model)}-{cpus * gpus // total}-{ram * gpus // total}"


def error_kind(status: int, message: str) -> str:
    return error_kind_from_message(status, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS)


def _json(response: requests.Response) -> Any:
    return json_or_error(response, "Hyperbolic", error_kind)


def key_hash(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


class HyperbolicAdapter:
    kind = "hyperbolic"

    def __init__(self, *, base_url: str = "", credentials: dict, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL,
                                       headers={"Authorization": f"Bearer {credentials.get('api_key', '')}"},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self._ssh_private_key = credentials.get("ssh_private_key", "")

    def verify(self) -> list[str]:
        """The machines on sale (Hyperbolic lists them without a key), then the account's instances (with it)."""
        gpus = sorted({offer.gpu for offer in self.list_offers()})
        self._instances()
        return gpus

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per shape: every GPU count of the ready machines, the free ones counted over the machines."""
        shapes: dict[str, dict] = {}
        for machine in self._machines():
            model, total = _model(machine), int(machine.get("gpus_total") or 0)
            price = _price_per_gpu(machine)
            if machine.get("status") != READY or not model or not total or price is None:
                continue
            free = _free_gpus(machine)
            for gpus in range(1, total + 1):
                shape = shapes.setdefault(instance_type_of(model, gpus, machine), {
                    "model": model, "gpus": gpus, "machine": machine, "prices": [], "available": 0})
                shape["prices"].append(price)
                shape["available"] += free // gpus
        return [_offer(instance_type, shape) for instance_type, shape in sorted(shapes.items())]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST instances/create on the cheapest machine of the shape with enough free GPUs, unless the key's
        instance is live already."""
        match = INSTANCE_TYPE_RE.match(spec.instance_type)
        if not match or spec.region != REGION:
            raise ProviderError(INVALID_REQUEST, f"{spec.instance_type!r} in {spec.region!r} is not a Hyperbolic "
                                                 f"shape <n>x-<GPU>-<vCPUs>-<RAM GB> in region {REGION!r}")
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "Hyperbolic sells no spot instances through this API")
        existing = self._find(key_hash(spec.idempotency_key))
        if existing is not None:
            return existing
        gpus = int(match["n"])
        fitting = [m for m in self._machines() if m.get("status") == READY and _model(m)
                   and instance_type_of(_model(m), gpus, m) == spec.instance_type and _free_gpus(m) >= gpus
                   and _price_per_gpu(m) is not None]
        if not fitting:
            raise ProviderError(NO_CAPACITY, f"no Hyperbolic machine has {gpus} GPUs of {spec.instance_type} free")
        machine = min(fitting, key=_price_per_gpu)
        metadata = {**spec.node_tags(), KEY_TAG: key_hash(spec.idempotency_key)}
        body = {"cluster_name": machine["cluster_name"], "node_name": machine["id"], "gpu_count": gpus,
                "userMetadata": metadata}
        # Sent once (a POST): a caller retry finds the instance by its metadata.
        created = _json(self.http.request("POST", "v1/marketplace/instances/create", json=body))
        name = created.get("instance_name") if isinstance(created, dict) else None
        found = self.describe(str(name)) if name else self._find(metadata[KEY_TAG])
        if found is None:
            raise ProviderError(TRANSIENT, "Hyperbolic accepted the create but lists no such instance yet")
        return found

    def describe(self, ref: str) -> NodeInfo:
        """The instance from GET instances (Hyperbolic has no call for one); a terminated one is forgotten."""
        instance = next((i for i in self._instances() if str(i.get("id")) == ref), None)
        if instance is None:
            raise ProviderError(NOT_FOUND, f"Hyperbolic holds no instance {ref}")
        return _node(instance)

    def terminate(self, ref: str) -> None:
        with already_gone_is_terminated():
            _json(self.http.request("POST", "v1/marketplace/instances/terminate", json={"id": ref}, idempotent=True))

    def list_nodes(self) -> list[NodeInfo]:
        """Live instances carrying the broker's rental tag in their metadata."""
        return [node for node in map(_node, self._instances()) if node.rental_id is not None and node.state in LIVE]

    def ssh_target(self, node: NodeInfo) -> SshTarget | None:
        """The login `sshCommand` reports, with the account's key; None until Hyperbolic reports one."""
        if not node.ip or node.state != "running":
            return None
        if not self._ssh_private_key:
            raise ProviderError(INVALID_REQUEST, "the partner has no ssh_private_key to log in to its nodes")
        return SshTarget(node.ip, node.ssh_port or 22, node.ssh_user or "ubuntu", self._ssh_private_key)

    # -- calls -------------------------------------------------------------------------------------
    def _machines(self) -> list[dict]:
        body = _json(self.http.request("POST", "v1/marketplace", json={"filters": {}}, idempotent=True))
        return [m for m in (body.get("instances") or []) if isinstance(m, dict)]

    def _instances(self) -> list[dict]:
        body = _json(self.http.request("GET", "v1/marketplace/instances"))
        return [i for i in (body.get("instances") or []) if isinstance(i, dict)]

    def _find(self, key: str) -> NodeInfo | None:
        for instance in self._instances():
            node = _node(instance)
            if (instance.get("userMetadata") or {}).get(KEY_TAG) == key and node.state in LIVE:
                return node
        return None


def _model(machine: dict) -> str:
    gpus = (machine.get("hardware") or {}).get("gpus") or []
    return str(gpus[0].get("model") or "") if gpus and isinstance(gpus[0], dict) else ""


def _machine_cpus(machine: dict) -> int:
    return sum(int(c.get("virtual_cores") or c.get("cores") or 0) for c in (machine.get("hardware") or {}).get("cpus")
               or [])


def _machine_ram_gb(machine: dict) -> int:
    return int(sum(float(r.get("capacity") or 0) for r in (machine.get("hardware") or {}).get("ram") or []))


def _free_gpus(machine: dict) -> int:
    if machine.get("reserved"):
        return 0
    return max(int(machine.get("gpus_total") or 0) - int(machine.get("gpus_reserved") or 0), 0)


def _price_per_gpu(machine: dict) -> float | None:
    """Dollars per GPU-hour (Hyperbolic quotes cents)."""
    amount = ((machine.get("pricing") or {}).get("price") or {}).get("amount")
    return None if amount is None else float(amount) / 100


def _offer(instance_type: str, shape: dict) -> ProviderOffer:
    match = INSTANCE_TYPE_RE.match(instance_type)
    gpus = shape["gpus"]
    return ProviderOffer(
        instance_type=instance_type, gpu=shape["model"], gpus_per_node=gpus, vcpus=float(match["cpus"]),
        memory_gb=float(match["ram"]), region=REGION, price_per_hour=round(min(shape["prices"]) * gpus, 4),
        available_nodes=shape["available"], interconnect="pcie",
    )


def _node(instance: dict) -> NodeInfo:
    details = instance.get("instance") or {}
    state = _STATE_BY_STATUS.get(str(details.get("status", "")).lower(), "pending")
    login = SSH_COMMAND_RE.match(str(instance.get("sshCommand") or "").strip())
    metadata = instance.get("userMetadata") or {}
    model, gpus = _model(details), int(details.get("gpu_count") or 0)
    return NodeInfo(
        ref=str(instance["id"]), state=state, region=REGION,
        instance_type=instance_type_of(model, gpus, details) if model and gpus else "",
        ip=login["host"] if login and state == "running" else None,
        tags={str(k): str(v) for k, v in metadata.items() if k != KEY_TAG},
        ssh_port=int(login["port"] or 22) if login else None, ssh_user=login["user"] if login else None,
    )
