"""Adapter for the GPU Broker Partner API (docs/partner-api.yaml), the open contract any cloud implements."""

from __future__ import annotations

from typing import Any

import requests

from .base import (
    AUTH_FAILED,
    ERROR_KINDS,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    RENTAL_TAG,
    TRANSIENT,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient

_KIND_BY_STATUS = {401: AUTH_FAILED, 403: AUTH_FAILED, 404: NOT_FOUND, 409: NO_CAPACITY, 422: INVALID_REQUEST,
                   400: INVALID_REQUEST, 429: TRANSIENT}


def raise_for_error(response: requests.Response) -> None:
    """Turn an error response into ProviderError, trusting the body's `error.kind` when it is ours."""
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    kind = error.get("kind")
    if kind not in ERROR_KINDS:
        kind = TRANSIENT if response.status_code >= 500 else _KIND_BY_STATUS.get(response.status_code, INVALID_REQUEST)
    raise ProviderError(kind, error.get("message") or f"HTTP {response.status_code}")


def _json(response: requests.Response) -> Any:
    raise_for_error(response)
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(TRANSIENT, "partner answered with a body that is not JSON") from exc


def node_from_json(data: dict) -> NodeInfo:
    return NodeInfo(
        ref=str(data["id"]), state=data["state"], region=data.get("region", ""),
        instance_type=data.get("instance_type", ""), ip=data.get("ip"),
        tags=dict(data.get("tags") or {}), spot=bool(data.get("spot", False)),
        preempt_at=data.get("preempt_at"), ended_at=data.get("ended_at"),
    )


def offer_from_json(data: dict) -> ProviderOffer:
    spot = data.get("spot_price_per_hour")
    available = data.get("available_nodes")
    return ProviderOffer(
        instance_type=data["instance_type"], gpu=data["gpu"], gpus_per_node=int(data["gpus_per_node"]),
        vcpus=float(data.get("vcpus") or 0), memory_gb=float(data.get("memory_gb") or 0),
        region=data["region"], price_per_hour=float(data["price_per_hour"]),
        spot_price_per_hour=None if spot is None else float(spot),
        available_nodes=None if available is None else int(available),
        interconnect=data.get("interconnect") or "pcie",
    )


class PartnerApiAdapter:
    """Bearer-authenticated JSON client of `/v1/offers` and `/v1/nodes`."""

    kind = "partner_api"

    def __init__(self, *, base_url: str, credentials: dict, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, http: HttpClient | None = None):
        token = credentials.get("api_key") or credentials.get("token") or ""
        self.http = http or HttpClient(base_url, headers={"Authorization": f"Bearer {token}"},
                                       timeout=timeout, retries=retries, backoff=backoff)

    def verify(self) -> list[str]:
        """Listing the offers is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """GET /v1/offers: the partner's shapes with live capacity."""
        return [offer_from_json(item) for item in _json(self.http.request("GET", "/v1/offers"))["offers"]]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST /v1/nodes with the Idempotency-Key header, so a retried call returns the same node."""
        body = {"instance_type": spec.instance_type, "region": spec.region, "user_data": spec.user_data,
                "ssh_public_key": spec.ssh_public_key, "tags": spec.node_tags(), "spot": spec.spot,
                "ports": [{"port": p.port, "source": p.source} for p in spec.ports]}
        response = self.http.request("POST", "/v1/nodes", json=body,
                                     headers={"Idempotency-Key": spec.idempotency_key})
        return node_from_json(_json(response))

    def describe(self, ref: str) -> NodeInfo:
        """GET /v1/nodes/{id}."""
        return node_from_json(_json(self.http.request("GET", f"/v1/nodes/{ref}")))

    def terminate(self, ref: str) -> None:
        """DELETE /v1/nodes/{id}; a 404 means it is already gone."""
        with already_gone_is_terminated():
            _json(self.http.request("DELETE", f"/v1/nodes/{ref}"))

    def list_nodes(self) -> list[NodeInfo]:
        """GET /v1/nodes?tag=gpu-broker:rental — every node carrying the broker's rental tag."""
        data = _json(self.http.request("GET", "/v1/nodes", params={"tag": RENTAL_TAG}))
        return [node_from_json(item) for item in data["nodes"]]
