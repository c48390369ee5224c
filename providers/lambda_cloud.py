"""Adapter for the Lambda Cloud API v1 (docs/vendor/lambda-cloud-openapi.json).

Lambda has no idempotency keys, so they are emulated through the instance name,
`gpub-<rental id>-<hash of the idempotency key>`: before launching, the adapter looks for a
booting or active instance with that name and returns it instead of launching a second one (a
same-named instance that is terminating, preempted or broken is never taken for the new node).
Ports a launch needs are opened by a firewall ruleset per (region, rules), created once and
attached at launch. Lambda sells no spot instances, so a spot launch is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import requests

from .base import (
    AUTH_FAILED,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    QUOTA_EXCEEDED,
    RENTAL_TAG,
    TRANSIENT,
    NodeInfo,
    PortRule,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient

NAME_PREFIX = "gpub-"
_HASH_LEN = 12
_KIND_BY_CODE = {
    "instance-operations/launch/insufficient-capacity": NO_CAPACITY,
    "global/quota-exceeded": QUOTA_EXCEEDED,
    "global/invalid-api-key": AUTH_FAILED,
    "global/account-inactive": AUTH_FAILED,
    "global/object-does-not-exist": NOT_FOUND,
    "global/invalid-parameters": INVALID_REQUEST,
}
_STATE_BY_STATUS = {"booting": "pending", "active": "running", "unhealthy": "failed",
                    "terminating": "terminated", "terminated": "terminated", "preempted": "preempted"}
LIVE_STATUSES = frozenset({"booting", "active", "unhealthy"})
REUSABLE_STATUSES = frozenset({"booting", "active"})
_PREFIXES = ("NVIDIA ", "Tesla ", "Quadro ")
_TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]{1,54}$")  # Lambda's RequestedTagEntry.key


def node_name(spec: ProvisionSpec, *, rental_chars: int = 40) -> str:
    """The broker's prefix, the rental (cut to `rental_chars`, for vendors with short names) and a hash of the key."""
    digest = hashlib.sha256(spec.idempotency_key.encode()).hexdigest()[:_HASH_LEN]
    return f"{NAME_PREFIX}{spec.rental_id[:rental_chars]}-{digest}"


def rental_from_name(name: str | None) -> str | None:
    if not name or not name.startswith(NAME_PREFIX) or len(name) <= len(NAME_PREFIX) + _HASH_LEN + 1:
        return None
    return name[len(NAME_PREFIX):-(_HASH_LEN + 1)]


def gpu_from_description(description: str) -> str:
    """Lambda's GPU description → the catalogue's name: 'Tesla V100 (16 GB)' → 'V100',
    'RTX 6000 (24 GB)' → 'RTX6000', 'RTX A6000 (48 GB)' → 'RTXA6000', 'A100 (80 GB SXM4)' → 'A100-80GB'."""
    base, _, detail = description.partition(" (")
    base = base.strip()
    for prefix in _PREFIXES:
        base = base.removeprefix(prefix)
    name = base.replace(" ", "")
    memory = re.search(r"(\d+)\s*GB", detail.upper())
    if memory and (name.upper(), int(memory.group(1))) in (("A100", 80), ("V100", 32)):
        return f"{name}-{memory.group(1)}GB"
    return name


def raise_for_error(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):  # e.g. the CDN's plain-text 429 (error 1015)
        error = {}
    kind = _KIND_BY_CODE.get(error.get("code", ""))
    if kind is None:
        kind = TRANSIENT if response.status_code >= 500 or response.status_code == 429 else {
            401: AUTH_FAILED, 403: AUTH_FAILED, 404: NOT_FOUND}.get(response.status_code, INVALID_REQUEST)
    raise ProviderError(kind, error.get("message") or f"HTTP {response.status_code}")


def _data(response: requests.Response) -> Any:
    raise_for_error(response)
    try:
        return response.json()["data"]
    except (ValueError, KeyError) as exc:
        raise ProviderError(TRANSIENT, "Lambda answered without a data field") from exc


class LambdaCloudAdapter:
    kind = "lambda"

    def __init__(self, *, base_url: str = "https://cloud.lambdalabs.com/api/v1", credentials: dict,
                 auth: str = "bearer", ssh_key_name: str = "", timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, rate_limit_wait_s: float = 300.0, http: HttpClient | None = None):
        key = credentials.get("api_key", "")
        header = f"Bearer {key}" if auth == "bearer" else "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.http = http or HttpClient(base_url, headers={"Authorization": header}, timeout=timeout,
                                       retries=retries, backoff=backoff, rate_limit_wait_s=rate_limit_wait_s)
        self.ssh_key_name = ssh_key_name
        self._rulesets: dict[tuple[str, str], str] = {}

    def verify(self) -> list[str]:
        """Listing the offers is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per instance type and region with capacity (Lambda reports no counts)."""
        offers = []
        for entry in _data(self.http.request("GET", "/instance-types")).values():
            shape = entry["instance_type"]
            for region in entry.get("regions_with_capacity_available") or []:
                offers.append(_offer(shape, region["name"]))
        return offers

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Launch one instance, unless a booting or active one with this spec's name already exists."""
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "Lambda sells no spot instances")
        name = node_name(spec)
        existing = next((i for i in self._instances() if i.get("name") == name
                         and i.get("status") in REUSABLE_STATUSES), None)
        if existing is not None:
            return _node(existing)
        body: dict[str, Any] = {"region_name": spec.region, "instance_type_name": spec.instance_type,
                                "ssh_key_names": [self._ssh_key(spec.ssh_public_key)], "file_system_names": [],
                                "name": name}
        if spec.ports:
            body["firewall_rulesets"] = [{"id": self._firewall_ruleset(spec.region, spec.ports)}]
        tags = [{"key": k, "value": v[:128]} for k, v in spec.node_tags().items() if _TAG_KEY.match(k)]
        if tags:
            body["tags"] = tags
        if spec.user_data:
            body["user_data"] = spec.user_data
        # A launch is not idempotent on Lambda's side, so it is sent once (a 429 was refused, not
        # acted on, and is repeated by the HTTP seam); a caller's retry finds the instance by name.
        ids = _data(self.http.request("POST", "/instance-operations/launch", json=body))["instance_ids"]
        return self.describe(ids[0])

    def describe(self, ref: str) -> NodeInfo:
        """GET /instances/{id}."""
        return _node(_data(self.http.request("GET", f"/instances/{ref}")))

    def terminate(self, ref: str) -> None:
        """POST /instance-operations/terminate; an instance Lambda does not know is already gone."""
        with already_gone_is_terminated():
            _data(self.http.request("POST", "/instance-operations/terminate", json={"instance_ids": [ref]}))

    def list_nodes(self) -> list[NodeInfo]:
        """Live (booting, active or unhealthy) instances whose name carries the broker's prefix."""
        return [_node(i) for i in self._instances() if rental_from_name(i.get("name")) is not None]

    def _instances(self) -> list[dict]:
        return [i for i in _data(self.http.request("GET", "/instances")) if i.get("status") in LIVE_STATUSES]

    def _firewall_ruleset(self, region: str, ports: tuple[PortRule, ...]) -> str:
        """The id of the broker's ruleset opening exactly `ports` in `region`, created when missing."""
        rules = [{"protocol": "tcp", "port_range": [p.port, p.port], "source_network": p.source,
                  "description": f"gpu-broker: port {p.port}"} for p in sorted(set(ports), key=lambda r: (r.port, r.source))]
        digest = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]
        name = f"gpub-{digest}"
        if (region, name) not in self._rulesets:
            found = next((r["id"] for r in _data(self.http.request("GET", "/firewall-rulesets"))
                          if r.get("name") == name and (r.get("region") or {}).get("name") == region), None)
            if found is None:
                created = self.http.request("POST", "/firewall-rulesets",
                                            json={"name": name, "region": region, "rules": rules})
                found = _data(created)["id"]
            self._rulesets[(region, name)] = found
        return self._rulesets[(region, name)]

    def _ssh_key(self, public_key: str) -> str:
        """The name of a registered key holding `public_key`, registering it when new."""
        if not public_key.strip():
            if not self.ssh_key_name:
                raise ProviderError(INVALID_REQUEST, "Lambda needs an SSH key: pass ssh_public_key or ssh_key_name")
            return self.ssh_key_name
        keys = _data(self.http.request("GET", "/ssh-keys"))
        match = next((k["name"] for k in keys if k.get("public_key", "").strip() == public_key.strip()), None)
        if match:
            return match
        name = "gpub-" + hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]
        _data(self.http.request("POST", "/ssh-keys", json={"name": name, "public_key": public_key.strip()}))
        return name


def _offer(shape: dict, region: str) -> ProviderOffer:
    specs = shape.get("specs") or {}
    gpus = int(specs.get("gpus") or 1)
    name = shape["name"]
    interconnect = "nvlink" if gpus > 1 and "sxm" in name.lower() else "pcie"
    return ProviderOffer(
        instance_type=name, gpu=gpu_from_description(shape.get("gpu_description") or name),
        gpus_per_node=gpus, vcpus=float(specs.get("vcpus") or 0), memory_gb=float(specs.get("memory_gib") or 0),
        region=region, price_per_hour=shape["price_cents_per_hour"] / 100, interconnect=interconnect,
    )


def _node(instance: dict) -> NodeInfo:
    """The instance as a node; its rental comes from its name (tags are kept too, where Lambda has them)."""
    tags = {t["key"]: t["value"] for t in instance.get("tags") or [] if "key" in t and "value" in t}
    rental = rental_from_name(instance.get("name"))
    if rental:
        tags[RENTAL_TAG] = rental
    return NodeInfo(
        ref=instance["id"], state=_STATE_BY_STATUS.get(instance.get("status", ""), "pending"),
        region=(instance.get("region") or {}).get("name", ""),
        instance_type=(instance.get("instance_type") or {}).get("name", ""), ip=instance.get("ip"), tags=tags,
    )
