"""Adapter for the Mithril Compute API (v2): a spot-only partner, whose every node is a spot bid.

Reference: https://docs.mithril.ai/compute-api (API overview and quickstart) and its published OpenAPI document
(the `Mithril Compute API`, mirrored at github.com/api-evangelist/mithril, openapi/); the operations used are
transcribed in docs/vendor/mithril-openapi.yaml. Auth is `Authorization: Bearer fkey_…`. Endpoints used:
`GET /v2/projects`, `GET /v2/instance-types` (GPU type and count, CPUs, RAM of each `it_…` id),
`GET /v2/spot/availability` (per instance type and region: free `capacity` and `last_instance_price`, a dollar
string), `GET|POST /v2/spot/bids`, `GET|DELETE /v2/spot/bids/{fid}`, `GET /v2/instances` (the bid's instances:
status and `ssh_destination`), `GET|POST /v2/ssh-keys`. Errors are FastAPI's `{"detail": ...}`.

Mithril sells no on-demand node: capacity is auctioned (a blind second-price auction; the bidder pays the
current spot price up to its limit price and is preempted when the price rises above it). So every offer has
a spot price and no on-demand price, and a launch that is not spot is refused rather than bid for: a bid must
never be sold as an on-demand node. The limit price of a bid is the auction's current price (what the broker
quoted and locked); the bid asks for one instance and carries the user data as
`launch_specification.startup_script`. A bid that would wait for capacity is not placed: an auction without
free capacity answers no_capacity, so the broker fails over instead of leaving an open bid behind.

Bids have a name and no tags: the name carries the rental and a hash of the key (as for Lambda), and a launch
first looks for a live bid of that name. The node's ref is the bid's `fid`; cancelling the bid terminates its
instance. An instance Mithril preempts (`STATUS_PREEMPTING`/`STATUS_PREEMPTED`, the bid back to `Open` or
`Preempting`) is reported `preempted`. The project is the adapter option `project`, or the key's only project.
Mithril publishes no rate limits; a 429 is waited out through the HTTP seam's `Retry-After` handling.
"""

from __future__ import annotations

import hashlib
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

BASE_URL = "https://api.mithril.ai"
LIVE_BID_STATUSES = frozenset({"Open", "Allocated", "Preempting", "Paused", "Relocating"})
_STATE_BY_INSTANCE = {"STATUS_RUNNING": "running", "STATUS_STOPPING": "terminated", "STATUS_TERMINATED": "terminated",
                      "STATUS_REPLACED": "terminated", "STATUS_PREEMPTING": "preempted",
                      "STATUS_PREEMPTED": "preempted", "STATUS_ERROR": "failed"}
_CAPACITY_WORDS = ("capacity", "not available", "sold out")
_QUOTA_WORDS = ("quota", "limit exceeded", "billing", "insufficient funds")
PAGE_SIZE = 100


def error_kind(status: int, message: str) -> str:
    """The ProviderError kind of a Mithril error answer (its 422 is FastAPI's validation error)."""
    return error_kind_from_message(status, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS,
                                   capacity_statuses=frozenset({409}), quota_statuses=frozenset({402}))


def _json(response: requests.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = error_message(response.json(), response.status_code)
        except ValueError:
            message = response.text[:200] or f"HTTP {response.status_code}"
        raise ProviderError(error_kind(response.status_code, message), message)
    if response.status_code == 204:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(TRANSIENT, "Mithril answered with a body that is not JSON") from exc


def dollars(text: str | None) -> float | None:
    """'$10.00' → 10.0 (Mithril writes prices as dollar strings); None when absent."""
    if text in (None, ""):
        return None
    try:
        return float(str(text).strip().lstrip("$").replace(",", ""))
    except ValueError as exc:
        raise ProviderError(TRANSIENT, f"Mithril price {text!r} is not a dollar amount") from exc


class MithrilAdapter:
    kind = "mithril"

    def __init__(self, *, base_url: str = "", credentials: dict, project: str = "", timeout: float = 10.0,
                 retries: int = 3, backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL,
                                       headers={"Authorization": f"Bearer {credentials.get('api_key', '')}"},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self._project = project

    def verify(self) -> list[str]:
        """The project lookup and the auctions are authenticated calls."""
        self.project()
        return sorted({offer.gpu for offer in self.list_offers()})

    def project(self) -> str:
        if not self._project:
            projects = _json(self.http.request("GET", "/v2/projects"))
            if len(projects) != 1:
                raise ProviderError(INVALID_REQUEST, f"the API key sees {len(projects)} projects: "
                                                     "set the adapter option 'project' to one of them")
            self._project = str(projects[0]["fid"])
        return self._project

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per auction (instance type × region): its current price as the spot price, no on-demand
        price, the free capacity as available nodes."""
        types = self._instance_types()
        offers = []
        for auction in self._auctions():
            kind = types.get(auction["instance_type"])
            price = dollars(auction.get("last_instance_price"))
            if kind is None or not price:
                continue
            gpus = int(kind["num_gpus"])
            offers.append(ProviderOffer(
                instance_type=kind["name"], gpu=str(kind["gpu_type"]), gpus_per_node=gpus,
                vcpus=float(kind["num_cpus"]), memory_gb=float(kind["ram_gb"]), region=auction["region"],
                price_per_hour=None, spot_price_per_hour=price, available_nodes=int(auction["capacity"]),
                interconnect=_interconnect(kind),
            ))
        return sorted(offers, key=lambda o: (o.instance_type, o.region))

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Place a one-instance spot bid at the auction's current price, unless this spec's bid is live."""
        if not spec.spot:
            raise ProviderError(INVALID_REQUEST, "Mithril sells spot bids only: an on-demand launch is refused")
        kind = next((t for t in self._instance_types().values() if t["name"] == spec.instance_type), None)
        if kind is None:
            raise ProviderError(INVALID_REQUEST, f"Mithril has no instance type {spec.instance_type!r}")
        name = node_name(spec)
        existing = next((b for b in self._bids(name=name) if b["status"] in LIVE_BID_STATUSES), None)
        if existing is not None:
            return self._node(existing, kind["name"])
        auction = next((a for a in self._auctions()
                        if a["instance_type"] == kind["fid"] and a["region"] == spec.region), None)
        if auction is None:
            raise ProviderError(INVALID_REQUEST, f"no {spec.instance_type} auction in {spec.region}")
        if int(auction["capacity"]) < 1:
            raise ProviderError(NO_CAPACITY, f"no free {spec.instance_type} capacity in {spec.region}")
        body = {"project": self.project(), "region": spec.region, "instance_type": kind["fid"],
                "limit_price": f"${dollars(auction['last_instance_price']):.2f}", "instance_quantity": 1,
                "name": name, "launch_specification": {
                    "volumes": [], "ssh_keys": self._ssh_keys(spec), "startup_script": spec.user_data or None}}
        # Sent once (a POST): bidding twice would rent twice; a caller retry finds the bid by name.
        return self._node(_json(self.http.request("POST", "/v2/spot/bids", json=body)), kind["name"])

    def describe(self, ref: str) -> NodeInfo:
        """GET /v2/spot/bids/{fid} and its instances."""
        bid = _json(self.http.request("GET", f"/v2/spot/bids/{ref}"))
        return self._node(bid, self._type_name(bid["instance_type"]))

    def terminate(self, ref: str) -> None:
        """DELETE /v2/spot/bids/{fid}: cancelling the bid terminates its instance; an unknown bid is gone."""
        with already_gone_is_terminated():
            _json(self.http.request("DELETE", f"/v2/spot/bids/{ref}"))

    def list_nodes(self) -> list[NodeInfo]:
        """The live bids whose name carries the broker's prefix."""
        bids = [b for b in self._bids()
                if b["status"] in LIVE_BID_STATUSES and rental_from_name(b.get("name")) is not None]
        types = self._instance_types() if bids else {}
        return [self._node(b, (types.get(b["instance_type"]) or {}).get("name", b["instance_type"])) for b in bids]

    # -- reads ---------------------------------------------------------------------------------
    def _instance_types(self) -> dict[str, dict]:
        return {t["fid"]: t for t in _json(self.http.request("GET", "/v2/instance-types"))}

    def _type_name(self, fid: str) -> str:
        return (self._instance_types().get(fid) or {}).get("name", fid)

    def _auctions(self) -> list[dict]:
        return _json(self.http.request("GET", "/v2/spot/availability"))

    def _bids(self, **filters: str) -> list[dict]:
        """Every bid of the project (cursor pages of up to 100)."""
        bids, cursor = [], None
        while True:
            params = {"project": self.project(), "limit": PAGE_SIZE, **filters}
            if cursor:
                params["next_cursor"] = cursor
            page = _json(self.http.request("GET", "/v2/spot/bids", params=params))
            bids += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return bids

    def _instances(self, bid_fid: str) -> list[dict]:
        params = {"project": self.project(), "bid_fid_in": bid_fid}
        return _json(self.http.request("GET", "/v2/instances", params=params))["data"]

    def _ssh_keys(self, spec: ProvisionSpec) -> list[str]:
        """The fid of the project's SSH key with this public key, registered once under a name of its hash."""
        public_key = spec.ssh_public_key.strip()
        if not public_key:
            return []
        project = self.project()
        keys = _json(self.http.request("GET", "/v2/ssh-keys", params={"project": project}))
        known = next((k["fid"] for k in keys if k.get("public_key", "").strip() == public_key), None)
        if known:
            return [known]
        name = "gpub-key-" + hashlib.sha256(public_key.encode()).hexdigest()[:16]
        body = {"project": project, "name": name, "public_key": public_key}
        return [_json(self.http.request("POST", "/v2/ssh-keys", json=body, idempotent=False))["fid"]]

    def _node(self, bid: dict, instance_type: str) -> NodeInfo:
        """The bid as a node: its instance's status and address (the bid asks for one instance)."""
        rental = rental_from_name(bid.get("name"))
        instances = self._instances(bid["fid"]) if bid.get("instances") else []
        instance = instances[0] if instances else {}
        return NodeInfo(
            ref=str(bid["fid"]), state=_state(bid, instance), region=bid.get("region") or "",
            instance_type=instance_type,
            ip=_host(instance.get("ssh_destination")), tags={RENTAL_TAG: rental} if rental else {}, spot=True,
            ended_at=bid.get("deactivated_at"),
        )


def _state(bid: dict, instance: dict) -> str:
    """A cancelled bid is terminated; an instance taken back is preempted; otherwise its instance's status."""
    if bid["status"] == "Terminated":
        return "terminated"
    status = instance.get("status")
    if status in _STATE_BY_INSTANCE:
        return _STATE_BY_INSTANCE[status]
    if bid["status"] == "Preempting":
        return "preempted"
    return "pending"  # an open bid waiting for its instance, or an instance still booting


def _host(destination: str | None) -> str | None:
    """'ubuntu@203.0.113.7:22' or '203.0.113.7' → '203.0.113.7'."""
    if not destination:
        return None
    host = destination.rpartition("@")[2]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _interconnect(kind: dict) -> str:
    if int(kind.get("ib_count") or 0) > 0 and int(kind["num_gpus"]) > 1:
        return "infiniband"
    return "nvlink" if str(kind.get("gpu_socket", "")).upper().startswith("SXM") else "pcie"
