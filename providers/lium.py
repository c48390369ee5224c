"""Adapter for the Lium (Celium) REST API: a marketplace of GPU hosts ("executors") rented whole as pods.

Reference: https://docs.lium.io (the vendor's own clients: the `lium.io`/`lium-sdk` packages,
github.com/Datura-ai/lium-cli; SkyPilot's provisioner, sky/provision/lium). Transcription of the
operations used: docs/vendor/lium-openapi.yaml. Auth is the `X-API-KEY` header. Endpoints used:
`GET /executors` (free hosts with their GPUs, CPU, RAM in KB, country and tier), `POST /executors/{id}/rent`
(a pod from a template, with the SSH keys), `GET /pods`, `GET /pods/{id}`, `DELETE /pods/{id}`,
`GET|POST /templates` (a template pins the image, its `internal_ports` and `startup_commands`).
Errors are FastAPI's `{"detail": ...}`.

A broker instance type is the catalogue's spelling `<GPU>_<n>x` and the region is the host's country
code; the available nodes are the free hosts of that shape there. The launch's user data and ports
travel in a private template (`startup_commands`, `internal_ports`), found or created by a hash of
both. Spot is Lium's `spot` tier (hosts the provider may take back): a spot spec rents only from it,
an on-demand spec only from the `secure` tier. Lium has neither idempotency keys nor tags: the pod
name carries the rental and a hash of the key (as for Lambda), and a rent first looks for a live pod
with that name. Lium forgets a deleted pod, so describing one answers not_found.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import requests

from .base import (
    INVALID_REQUEST,
    NO_CAPACITY,
    RENTAL_TAG,
    TRANSIENT,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient, error_kind_from_message, error_message
from .lambda_cloud import node_name, rental_from_name
from .user_data import shell_script

BASE_URL = "https://lium.io/api"
SECURE_TIER, SPOT_TIER = "secure", "spot"
INSTANCE_TYPE_RE = re.compile(r"^(?P<gpu>.+)_(?P<count>\d+)x$")
_KB_PER_GB = 1024 ** 2
SXM_BOARDS = frozenset({"B200", "B300", "H100-SXM", "H200"})  # several of these on one host share NVLink
# Lium's GPU model names (vendor prefixes removed) that the catalogue's instance types spell differently.
MODEL_NAMES = {
    "B300 SXM6 AC": "B300", "H100 80GB HBM3": "H100-SXM", "H100 PCIe": "H100", "RTX 6000 Ada Generation": "RTX6000-Ada",
    "RTX PRO 6000 Blackwell Server Edition": "RTXPRO6000", "RTX PRO 6000 Blackwell Workstation Edition": "RTXPRO6000-WK",
    "A100 80GB PCIe": "A100-80GB",
}
_STATE_BY_STATUS = {"PENDING": "pending", "START_PENDING": "pending", "REBOOT_PENDING": "pending",
                    "RUNNING": "running", "STOP_PENDING": "terminated", "STOPPED": "terminated",
                    "DELETING": "terminated", "FAILED": "failed", "CREATION_FAILED": "failed",
                    "REBOOT_FAILED": "failed", "BROKEN": "failed"}
_CAPACITY_WORDS = ("not available", "already rented", "no longer", "occupied")
_QUOTA_WORDS = ("balance", "insufficient", "limit")


def model_name(raw: str) -> str:
    """'NVIDIA GeForce RTX 4090' → 'RTX 4090': Lium's node feed and pod API spell the prefixes differently."""
    name = raw.strip()
    for prefix in ("NVIDIA ", "GeForce "):
        name = name.removeprefix(prefix)
    return name


def _detail(response: requests.Response) -> str:
    try:
        return error_message(response.json(), response.status_code)
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"


def error_kind(status: int, message: str) -> str:
    """The ProviderError kind of a Lium error answer (402: out of balance; 409: the host is taken)."""
    return error_kind_from_message(status, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS,
                                   capacity_statuses=frozenset({409}), quota_statuses=frozenset({402}))


def _json(response: requests.Response) -> Any:
    if response.status_code >= 400:
        message = _detail(response)
        raise ProviderError(error_kind(response.status_code, message), message)
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(TRANSIENT, "Lium answered with a body that is not JSON") from exc


def shape_of(executor: dict) -> tuple[str, str] | None:
    """(instance type, region) of a host (None without GPUs); a model the catalogue does not spell
    differently keeps its own name, spaces removed."""
    gpu = (executor.get("specs") or {}).get("gpu") or {}
    details = gpu.get("details") or []
    if not details:
        return None
    name = model_name(str(details[0].get("name", "")))
    accelerator = MODEL_NAMES.get(name, name.replace(" ", ""))
    count = int(gpu.get("count") or len(details))
    return f"{accelerator}_{count}x", str((executor.get("location") or {}).get("country_code") or "")


class LiumAdapter:
    kind = "lium"

    def __init__(self, *, base_url: str = "", credentials: dict, image: str = "daturaai/ubuntu",
                 image_tag: str = "22.04", timeout: float = 10.0, retries: int = 3, backoff: float = 0.25,
                 http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, headers={"X-API-KEY": credentials.get("api_key", "")},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self.image, self.image_tag = image, image_tag

    def verify(self) -> list[str]:
        """Listing the free hosts is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """Free secure hosts grouped by shape and country: the cheapest price, the count as capacity;
        the cheapest free spot host of the shape gives the spot price."""
        groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
        for executor in self._free_executors():
            shape = shape_of(executor)
            if shape is not None:
                groups.setdefault(shape, {}).setdefault(executor.get("tier") or SECURE_TIER, []).append(executor)
        return [_offer(instance_type, region, tiers) for (instance_type, region), tiers in sorted(groups.items())
                if tiers.get(SECURE_TIER)]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Rent the cheapest free host of the shape (POST /executors/{id}/rent), unless this spec's pod is live."""
        if not INSTANCE_TYPE_RE.match(spec.instance_type):
            raise ProviderError(INVALID_REQUEST, f"{spec.instance_type!r} is not a Lium shape <gpu>_<n>x")
        name = node_name(spec)
        existing = next((p for p in self._pods() if p.get("pod_name") == name), None)
        if existing is not None:
            return _node(existing)
        executor = self._cheapest(spec)
        body: dict[str, Any] = {"pod_name": name, "template_id": self._template(spec),
                                "user_public_key": [spec.ssh_public_key.strip()] if spec.ssh_public_key.strip() else []}
        # Sent once (a POST): renting twice takes two hosts; a caller retry finds the pod by name.
        rented = _json(self.http.request("POST", f"/executors/{executor['id']}/rent", json=body))
        return self.describe(str(rented["pod_id"]))

    def describe(self, ref: str) -> NodeInfo:
        """GET /pods/{id}."""
        return _node(_json(self.http.request("GET", f"/pods/{ref}")))

    def terminate(self, ref: str) -> None:
        """DELETE /pods/{id}; a pod Lium does not hold is already gone."""
        with already_gone_is_terminated():
            _json(self.http.request("DELETE", f"/pods/{ref}"))

    def list_nodes(self) -> list[NodeInfo]:
        """Pods whose name carries the broker's prefix."""
        return [_node(p) for p in self._pods() if rental_from_name(p.get("pod_name")) is not None]

    def _free_executors(self) -> list[dict]:
        executors = _json(self.http.request("GET", "/executors", params={"size": 1000}))
        return [e for e in executors if e.get("is_whole_host_free", True)]

    def _cheapest(self, spec: ProvisionSpec) -> dict:
        tier = SPOT_TIER if spec.spot else SECURE_TIER
        matches = [e for e in self._free_executors()
                   if shape_of(e) == (spec.instance_type, spec.region) and (e.get("tier") or SECURE_TIER) == tier]
        if not matches:
            raise ProviderError(NO_CAPACITY, f"no free {tier} host for {spec.instance_type} in {spec.region}")
        return min(matches, key=lambda e: (_hourly(e), str(e["id"])))

    def _template(self, spec: ProvisionSpec) -> str:
        """A private template carrying the user data and the ports, found by name or created."""
        ports = sorted({22, *(p.port for p in spec.ports)})
        key = "\n".join([self.image, self.image_tag, ",".join(map(str, ports)), spec.user_data])
        name = "gpub-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        known = next((t["id"] for t in _json(self.http.request("GET", "/templates")) if t.get("name") == name), None)
        if known:
            return str(known)
        body = {"name": name, "docker_image": self.image, "docker_image_tag": self.image_tag, "category": "UBUNTU",
                "internal_ports": ports, "startup_commands": shell_script(spec.user_data), "is_private": True,
                "volumes": [], "environment": {}, "entrypoint": ""}
        # A template with this name is what a retry looks for, so repeating the POST cannot duplicate it.
        return str(_json(self.http.request("POST", "/templates", json=body))["id"])

    def _pods(self) -> list[dict]:
        return _json(self.http.request("GET", "/pods"))


def _hourly(executor: dict) -> float:
    gpu = (executor.get("specs") or {}).get("gpu") or {}
    return float(executor.get("price_per_gpu") or 0) * int(gpu.get("count") or 1)


def _offer(instance_type: str, region: str, tiers: dict[str, list[dict]]) -> ProviderOffer:
    secure, spot = tiers[SECURE_TIER], tiers.get(SPOT_TIER) or []
    cheapest = min(secure, key=_hourly)
    specs = cheapest.get("specs") or {}
    gpu = specs.get("gpu") or {}
    count = int(gpu.get("count") or 1)
    return ProviderOffer(
        instance_type=instance_type, gpu=model_name(str(gpu["details"][0].get("name", ""))), gpus_per_node=count,
        vcpus=float((specs.get("cpu") or {}).get("count") or 0),
        memory_gb=round(float((specs.get("ram") or {}).get("total") or 0) / _KB_PER_GB), region=region,
        price_per_hour=round(_hourly(cheapest), 4),
        spot_price_per_hour=round(min(map(_hourly, spot)), 4) if spot else None, available_nodes=len(secure),
        interconnect="nvlink" if count > 1 and instance_type.rpartition("_")[0] in SXM_BOARDS else "pcie",
    )


def _node(pod: dict) -> NodeInfo:
    rental = rental_from_name(pod.get("pod_name"))
    executor = pod.get("executor") or {}
    shape = shape_of(executor) or ("", "")
    host = re.search(r"@(\S+)", pod.get("ssh_connect_cmd") or "")
    return NodeInfo(
        ref=str(pod["id"]), state=_STATE_BY_STATUS.get(str(pod.get("status", "")).upper(), "pending"),
        region=shape[1], instance_type=shape[0], ip=host.group(1) if host else None,
        tags={RENTAL_TAG: rental} if rental else {}, spot=executor.get("tier") == SPOT_TIER,
    )
