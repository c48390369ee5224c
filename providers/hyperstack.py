"""Adapter for the Hyperstack (NexGen Cloud Infrahub) API v1.

Reference: https://docs.hyperstack.cloud/docs/api-reference (OpenAPI: https://docs.hyperstack.cloud/openapi/hyperstack.json)
and the vendor's generated SDK, github.com/NexGenCloud/hyperstack-sdk-python (docs/*.md: field names and
types); trimmed schema: docs/vendor/hyperstack-openapi.yaml. Auth is the `api_key` header. Endpoints used:
`GET /core/flavors` (flavors per GPU and region with `stock_available`), `GET /pricebook` (hourly price per
GPU), `GET|POST /core/environments`, `GET|POST /core/keypairs`, `GET|POST /core/virtual-machines`,
`GET|DELETE /core/virtual-machines/{id}`. Every answer is the envelope `{status, message, ...}`; errors are
`{"status": false, "message", "error_reason"}` (bad_request, unauthorized, forbidden, not_found, ...).

Resources live in an environment bound to a region: the adapter keeps one environment per region
(`gpub-<region>`) and imports the launch's SSH key there (a VM cannot be created without a keypair).
A flavor's hourly price is the pricebook price of its GPU times its GPU count. Hyperstack has no
idempotency keys: the VM name (at most 50 characters) carries a hash of the key, a create first looks
for a live VM of that name (`search=`), and the broker's tags travel as `key=value` labels. The launch's
ports become the create request's `security_rules` (ingress TCP from the rule's network) with a
floating IP. Hyperstack's create has no spot or preemptible option, so a spot spec is refused. A
deleted VM is forgotten: describing it answers not_found.
"""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from .base import (
    AUTH_FAILED,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    QUOTA_EXCEEDED,
    TRANSIENT,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient

BASE_URL = "https://infrahub-api.nexgencloud.com/v1"
NAME_PREFIX = "gpub-"
PAGE_SIZE = 100
_STATE_BY_STATUS = {"CREATING": "pending", "BUILD": "pending", "STARTING": "pending", "ACTIVE": "running",
                    "RESTORING": "pending", "REBOOTING": "running", "HARD_REBOOT": "running",
                    "SHUTOFF": "failed", "HIBERNATED": "failed", "HIBERNATING": "failed", "ERROR": "failed",
                    "DELETING": "terminated", "DELETED": "terminated"}
_KIND_BY_REASON = {"bad_request": INVALID_REQUEST, "unauthorized": AUTH_FAILED, "forbidden": AUTH_FAILED,
                   "not_found": NOT_FOUND}
_CAPACITY_WORDS = ("stock", "capacity", "not enough resources", "no available")
_QUOTA_WORDS = ("quota", "limit", "insufficient balance", "insufficient credit")


def error_kind(status: int, reason: str, message: str) -> str:
    """The ProviderError kind of a Hyperstack error answer (a missing `error_reason` reads as bad_request)."""
    text = message.lower()
    if status == 429 or status >= 500:
        return TRANSIENT
    if status == 401:
        return AUTH_FAILED
    if status == 404:
        return NOT_FOUND
    if any(word in text for word in _QUOTA_WORDS):
        return QUOTA_EXCEEDED
    if any(word in text for word in _CAPACITY_WORDS):
        return NO_CAPACITY
    return _KIND_BY_REASON.get(reason or "bad_request", INVALID_REQUEST)


def _json(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or (isinstance(body, dict) and body.get("status") is False):
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or f"HTTP {response.status_code}")
        raise ProviderError(error_kind(response.status_code, str(body.get("error_reason") or ""), message), message)
    if body is None:
        raise ProviderError(TRANSIENT, "Hyperstack answered with a body that is not JSON")
    return body


def vm_name(spec: ProvisionSpec) -> str:
    """`gpub-<hash of the idempotency key>`: the same key always names the same VM, within 50 characters."""
    return NAME_PREFIX + hashlib.sha256(spec.idempotency_key.encode()).hexdigest()[:24]


def environment_name(region: str) -> str:
    return f"gpub-{region.lower()}"


class HyperstackAdapter:
    kind = "hyperstack"

    def __init__(self, *, base_url: str = "", credentials: dict, image: str = "Ubuntu Server 22.04 LTS R535 CUDA 12.2",
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, headers={"api_key": credentials.get("api_key", "")},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self.image = image

    def verify(self) -> list[str]:
        """Listing the flavors is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per GPU flavor and region, priced from the pricebook; out of stock = 0 nodes."""
        groups = _json(self.http.request("GET", "/core/flavors"))["data"]
        prices = {row["name"]: float(row["value"]) for row in _json(self.http.request("GET", "/pricebook"))}
        return [_offer(flavor, prices[flavor["gpu"]]) for group in groups for flavor in group.get("flavors") or []
                if int(flavor.get("gpu_count") or 0) >= 1 and flavor.get("gpu") in prices]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST /core/virtual-machines, unless a live VM with this spec's name exists already."""
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "Hyperstack sells no spot virtual machines")
        if not spec.ssh_public_key.strip():
            raise ProviderError(INVALID_REQUEST, "Hyperstack creates a virtual machine only with an SSH keypair")
        name = vm_name(spec)
        existing = next((vm for vm in self._vms(search=name) if vm.get("name") == name), None)
        if existing is not None:
            return _node(existing)
        environment = self._environment(spec.region)
        body: dict[str, Any] = {
            "name": name, "environment_name": environment, "image_name": self.image,
            "flavor_name": spec.instance_type, "key_name": self._keypair(environment, spec.ssh_public_key),
            "count": 1, "assign_floating_ip": True, "create_bootable_volume": False,
            "labels": [f"{k}={v}" for k, v in spec.node_tags().items()],
            "security_rules": [{"direction": "ingress", "protocol": "tcp", "ethertype": "IPv4",
                                "remote_ip_prefix": rule.source, "port_range_min": rule.port,
                                "port_range_max": rule.port} for rule in spec.ports]}
        if spec.user_data:
            body["user_data"] = spec.user_data
        # Sent once (a POST): a caller retry finds the VM by name.
        created = _json(self.http.request("POST", "/core/virtual-machines", json=body))["instances"]
        return _node(created[0])

    def describe(self, ref: str) -> NodeInfo:
        """GET /core/virtual-machines/{id}."""
        return _node(_json(self.http.request("GET", f"/core/virtual-machines/{ref}"))["instance"])

    def terminate(self, ref: str) -> None:
        """DELETE /core/virtual-machines/{id}; a VM Hyperstack no longer knows is gone."""
        with already_gone_is_terminated():
            _json(self.http.request("DELETE", f"/core/virtual-machines/{ref}"))

    def list_nodes(self) -> list[NodeInfo]:
        """Live VMs labelled with the broker's rental tag."""
        nodes = [_node(vm) for vm in self._vms()]
        return [n for n in nodes if n.rental_id is not None and n.state != "terminated"]

    # -- calls -------------------------------------------------------------------------------------
    def _vms(self, *, search: str = "") -> list[dict]:
        vms, page = [], 1
        while True:
            params = {"page": page, "page_size": PAGE_SIZE, **({"search": search} if search else {})}
            batch = _json(self.http.request("GET", "/core/virtual-machines", params=params)).get("instances") or []
            vms.extend(batch)
            if len(batch) < PAGE_SIZE:
                return vms
            page += 1

    def _environment(self, region: str) -> str:
        """The broker's environment in `region`, created on first use."""
        name = environment_name(region)
        known = _json(self.http.request("GET", "/core/environments", params={"search": name})).get("environments")
        if any(env.get("name") == name and env.get("region") == region for env in known or []):
            return name
        _json(self.http.request("POST", "/core/environments", json={"name": name, "region": region}))
        return name

    def _keypair(self, environment: str, public_key: str) -> str:
        """The name of the environment's keypair holding `public_key`, imported when new."""
        key = public_key.strip()
        name = "gpub-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        keypairs = _json(self.http.request("GET", "/core/keypairs", params={"search": name})).get("keypairs") or []
        if any(k.get("name") == name and (k.get("environment") or {}).get("name") == environment for k in keypairs):
            return name
        _json(self.http.request("POST", "/core/keypairs",
                                json={"name": name, "environment_name": environment, "public_key": key}))
        return name


def _offer(flavor: dict, gpu_price: float) -> ProviderOffer:
    gpus = int(flavor["gpu_count"])
    name = str(flavor["name"])
    return ProviderOffer(
        instance_type=name, gpu=str(flavor["gpu"]), gpus_per_node=gpus, vcpus=float(flavor.get("cpu") or 0),
        memory_gb=float(flavor.get("ram") or 0), region=str(flavor["region_name"]),
        price_per_hour=round(gpu_price * gpus, 6), available_nodes=None if flavor.get("stock_available") else 0,
        interconnect="nvlink" if "nvlink" in name.lower() or "sxm" in name.lower() else "pcie",
    )


def _tags(vm: dict) -> dict[str, str]:
    return dict(label.split("=", 1) for label in vm.get("labels") or [] if "=" in label)


def _node(vm: dict) -> NodeInfo:
    return NodeInfo(
        ref=str(vm["id"]), state=_STATE_BY_STATUS.get(str(vm.get("status") or "").upper(), "pending"),
        region=(vm.get("environment") or {}).get("region") or "", instance_type=(vm.get("flavor") or {}).get("name") or "",
        ip=vm.get("floating_ip") or vm.get("fixed_ip") or None, tags=_tags(vm),
    )
