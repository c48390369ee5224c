"""Adapter for the Shadeform API v1: one API in front of many GPU clouds.

Reference: https://docs.shadeform.ai/api-reference (OpenAPI: github.com/shadeform/docs openapi.yaml;
trimmed copy in docs/vendor/shadeform-openapi.yaml). Auth is the `X-API-KEY` header. Endpoints used:
`GET /instances/types` (types with per-region `availability`), `POST /instances/create` (with a
script `launch_configuration` carrying the user data), `GET /instances/{id}/info`,
`POST /instances/{id}/delete`, `GET /instances`, `GET /sshkeys`, `POST /sshkeys/add`.

A broker instance type is `<cloud>_<shade_instance_type>` (the catalogue's spelling), because a
Shade instance type names a shape only together with its cloud. Shadeform has no idempotency key,
so the instance name carries the rental and a hash of the key (as for Lambda) and a launch first
looks for a live instance with that name; the broker's tags also travel as `key=value` tags.
The reference publishes no error schema, so errors are mapped from the status code and message.
Shadeform sells no spot instances (a spot spec is refused), and its create request has no firewall
field: the launch's ports are not sent; the node is reachable as its underlying cloud allows.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import requests

from .base import (
    INVALID_REQUEST,
    RENTAL_TAG,
    TRANSIENT,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient, error_kind_from_message
from .lambda_cloud import node_name, rental_from_name

BASE_URL = "https://api.shadeform.ai/v1"
_STATE_BY_STATUS = {"creating": "pending", "pending_provider": "pending", "pending": "pending",
                    "active": "running", "error": "failed", "deleting": "terminated", "deleted": "terminated"}
_CAPACITY_WORDS = ("capacity", "availab", "out of stock", "sold out")
_QUOTA_WORDS = ("quota", "limit", "insufficient funds", "balance")


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


def error_kind(status: int, message: str) -> str:
    """The ProviderError kind of a Shadeform error answer."""
    return error_kind_from_message(status, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS)


def _json(response: requests.Response) -> Any:
    if response.status_code >= 400:
        message = _message(response)
        raise ProviderError(error_kind(response.status_code, message), message)
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(TRANSIENT, "Shadeform answered with a body that is not JSON") from exc


def split_instance_type(instance_type: str) -> tuple[str, str]:
    """'massedcompute_A6000x8' → ('massedcompute', 'A6000x8')."""
    cloud, _, shade_type = instance_type.partition("_")
    if not cloud or not shade_type:
        raise ProviderError(INVALID_REQUEST, f"{instance_type!r} is not a <cloud>_<shade instance type>")
    return cloud, shade_type


class ShadeformAdapter:
    kind = "shadeform"

    def __init__(self, *, base_url: str = "", credentials: dict, os: str = "",
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, headers={"X-API-KEY": credentials.get("api_key", "")},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self.os = os

    def verify(self) -> list[str]:
        """Listing the offers is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per type and region; a region Shadeform reports unavailable has 0 nodes."""
        types = _json(self.http.request("GET", "/instances/types"))["instance_types"]
        return [_offer(t, a) for t in types for a in t.get("availability") or []]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST /instances/create, unless an instance with this spec's name is already live."""
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "Shadeform sells no spot instances")
        name = node_name(spec)
        existing = next((i for i in self._instances() if i.get("name") == name), None)
        if existing is not None:
            return _node(existing)
        cloud, shade_type = split_instance_type(spec.instance_type)
        body: dict[str, Any] = {"cloud": cloud, "region": spec.region, "shade_instance_type": shade_type,
                                "shade_cloud": True, "name": name,
                                "tags": [f"{k}={v}" for k, v in spec.node_tags().items()]}
        if spec.user_data:
            script = base64.b64encode(spec.user_data.encode()).decode()
            body["launch_configuration"] = {"type": "script", "script_configuration": {"base64_script": script}}
        if spec.ssh_public_key.strip():
            body["ssh_key_id"] = self._ssh_key(spec.ssh_public_key)
        if self.os:
            body["os"] = self.os
        # Sent once: a create is not idempotent on Shadeform's side; a caller retry finds it by name.
        created = _json(self.http.request("POST", "/instances/create", json=body))
        return self.describe(created["id"])

    def describe(self, ref: str) -> NodeInfo:
        """GET /instances/{id}/info."""
        return _node(_json(self.http.request("GET", f"/instances/{ref}/info")))

    def terminate(self, ref: str) -> None:
        """POST /instances/{id}/delete; an instance Shadeform does not know is already gone."""
        with already_gone_is_terminated():
            _json(self.http.request("POST", f"/instances/{ref}/delete"))

    def list_nodes(self) -> list[NodeInfo]:
        """Active and pending instances carrying the broker's rental tag."""
        return [node for node in map(_node, self._instances()) if node.rental_id is not None]

    def _instances(self) -> list[dict]:
        return _json(self.http.request("GET", "/instances"))["instances"]

    def _ssh_key(self, public_key: str) -> str:
        """The id of a registered key holding `public_key`, registering it when new."""
        keys = _json(self.http.request("GET", "/sshkeys"))["ssh_keys"]
        match = next((k["id"] for k in keys if k.get("public_key", "").strip() == public_key.strip()), None)
        if match:
            return match
        name = "gpub-" + hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]
        return _json(self.http.request("POST", "/sshkeys/add", json={"name": name, "public_key": public_key.strip()}))[
            "id"]


def _offer(shape: dict, availability: dict) -> ProviderOffer:
    config = shape.get("configuration") or {}
    gpus = int(config.get("num_gpus") or 1)
    interconnect = str(config.get("interconnect") or "pcie").lower()
    if interconnect not in ("pcie", "nvlink", "infiniband"):
        interconnect = "nvlink" if config.get("nvlink") else "pcie"
    return ProviderOffer(
        instance_type=f"{shape['cloud']}_{shape['shade_instance_type']}", gpu=str(config.get("gpu_type") or ""),
        gpus_per_node=gpus, vcpus=float(config.get("vcpus") or 0), memory_gb=float(config.get("memory_in_gb") or 0),
        region=availability["region"], price_per_hour=shape["hourly_price"] / 100,
        available_nodes=None if availability.get("available") else 0, interconnect=interconnect,
    )


def _tags(instance: dict) -> dict[str, str]:
    tags = dict(item.split("=", 1) for item in instance.get("tags") or [] if "=" in item)
    rental = rental_from_name(instance.get("name"))
    if rental and RENTAL_TAG not in tags:
        tags[RENTAL_TAG] = rental
    return tags


def _node(instance: dict) -> NodeInfo:
    return NodeInfo(
        ref=str(instance["id"]), state=_STATE_BY_STATUS.get(instance.get("status", ""), "pending"),
        region=instance.get("region", ""),
        instance_type=f"{instance.get('cloud', '')}_{instance.get('shade_instance_type', '')}",
        ip=instance.get("ip") or None, tags=_tags(instance),
    )
