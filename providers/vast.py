"""Adapter for the Vast.ai REST API v0: a marketplace of hosts, rented offer by offer.

Reference: https://docs.vast.ai/api-reference (search offers `POST /api/v0/bundles/`, create instance
`PUT /api/v0/asks/{id}/`, show instances `GET /api/v0/instances/`, show instance
`GET /api/v0/instances/{id}/`, destroy `DELETE /api/v0/instances/{id}/`); auth is
`Authorization: Bearer <key>`. Trimmed schema: docs/vendor/vast-openapi.yaml. Port mapping:
https://docs.vast.ai/guides/instances/connect/networking (and SkyPilot's Vast provisioner,
github.com/skypilot-org/skypilot, sky/provision/vast/instance.py, reading `ports["22/tcp"][0]["HostPort"]`).

Vast sells machines, not shapes: every offer is one host. The broker's instance type is the
catalogue's spelling `<gpus>x-<gpu name, spaces as _>-<cpu cores>-<cpu ram MB>`, the region is the
offer's `geolocation`, and the available nodes are the number of rentable offers of that shape there.
A bid (`price` on create) makes an interruptible instance: it is placed only when the spec asks for
spot, at the offer's `min_bid`, and never silently replaced by an on-demand rental. The launch's
ports travel as Docker `-p` options in `env`; Vast cannot restrict who reaches them, and maps each to an
outside port of its own on the host's (shared) public address: the instance's `ports`, Docker's
`{"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}]}`. The node's `ssh_port` is 22's outside port and
its `endpoint` the lowest other published port's (a rental publishes one workload port besides SSH), so the
broker reaches the served port at its mapped port on `public_ipaddr`.
Vast has neither idempotency keys nor tags: the instance `label` carries the rental and a hash of
the key (as for Lambda), and a create first looks for a live instance with that label. Vast forgets a
destroyed instance, so describing one answers not_found.
"""

from __future__ import annotations

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
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient
from .lambda_cloud import node_name, rental_from_name
from .user_data import shell_script

BASE_URL = "https://console.vast.ai/api/v0"
SSH_PORT = 22
INSTANCE_TYPE_RE = re.compile(r"^(\d+)x-(.+)-(\d+)-(\d+)$")
OFFER_QUERY = {"type": "on-demand", "rentable": {"eq": True}, "rented": {"eq": False}, "limit": 1000}
_KIND_BY_CODE = {"invalid_args": INVALID_REQUEST, "no_such_ask": NO_CAPACITY, "insufficient_credit": QUOTA_EXCEEDED,
                 "no_such_instance": NOT_FOUND, "auth_error": AUTH_FAILED}
_STATE_BY_STATUS = {None: "pending", "created": "pending", "loading": "pending", "running": "running",
                    "rebooting": "running", "exited": "failed", "stopped": "failed"}


def raise_for_error(response: requests.Response) -> None:
    """Vast answers errors as `{"success": false, "error": <code>, "msg": <text>}`."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    kind = _KIND_BY_CODE.get(str(body.get("error", "")))
    if response.status_code == 429 or response.status_code >= 500:
        kind = TRANSIENT
    elif kind is None:
        kind = {401: AUTH_FAILED, 403: AUTH_FAILED, 404: NOT_FOUND}.get(response.status_code, INVALID_REQUEST)
    raise ProviderError(kind, str(body.get("msg") or body.get("error") or f"HTTP {response.status_code}"))


def _json(response: requests.Response) -> Any:
    raise_for_error(response)
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(TRANSIENT, "Vast answered with a body that is not JSON") from exc


def instance_type_of(offer: dict) -> str:
    """'1x-RTX_4090-32-65536': GPUs, GPU name, CPU cores, CPU RAM in MB (the catalogue's spelling)."""
    gpu = str(offer["gpu_name"]).replace(" ", "_")
    return f"{int(offer['num_gpus'])}x-{gpu}-{int(offer['cpu_cores_effective'])}-{int(offer['cpu_ram'])}"


def gpu_of(offer: dict) -> str:
    """Vast's GPU name; an A100 with 80 GB says so, since Vast names both sizes alike."""
    name = str(offer["gpu_name"])
    if name.startswith("A100") and float(offer.get("gpu_ram") or 0) >= 70_000:
        return f"{name} 80GB"
    return name


class VastAdapter:
    kind = "vast"

    def __init__(self, *, base_url: str = "", credentials: dict,
                 image: str = "vastai/base-image:@vastai-automatic-tag", disk_gb: float = 32.0,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, headers={"Authorization": f"Bearer {credentials.get('api_key', '')}"},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self.image, self.disk_gb = image, disk_gb

    def verify(self) -> list[str]:
        """Listing the offers is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """Rentable offers grouped by shape and location: the cheapest price, the count as capacity."""
        groups: dict[tuple[str, str], list[dict]] = {}
        for offer in self._search():
            groups.setdefault((instance_type_of(offer), offer.get("geolocation") or ""), []).append(offer)
        return [_offer(instance_type, region, group) for (instance_type, region), group in groups.items()]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Accept the cheapest matching offer (PUT /asks/{id}/), unless this spec's label is already live."""
        if not INSTANCE_TYPE_RE.match(spec.instance_type):
            raise ProviderError(INVALID_REQUEST, f"{spec.instance_type!r} is not a Vast shape <n>x-<gpu>-<cpus>-<ram>")
        label = node_name(spec)
        existing = next((i for i in self._instances() if i.get("label") == label), None)
        if existing is not None:
            return _node(existing)
        spot = spec.spot
        offer = self._cheapest(spec.instance_type, spec.region, spot)
        body: dict[str, Any] = {"image": self.image, "label": label, "disk": self.disk_gb, "runtype": "ssh"}
        if spec.user_data:
            body["onstart"] = shell_script(spec.user_data)  # Vast runs it with bash in the container
        if spot:
            body["price"] = offer["min_bid"]
        if spec.ports:
            body["env"] = {f"-p {p.port}:{p.port}": "1" for p in sorted(spec.ports, key=lambda r: r.port)}
        # Never retried: accepting an offer twice rents two machines; a caller retry finds it by label.
        created = _json(self.http.request("PUT", f"/asks/{offer['id']}/", json=body, idempotent=False))
        return self.describe(str(created["new_contract"]))

    def describe(self, ref: str) -> NodeInfo:
        """GET /instances/{id}/; Vast answers `instances: null` (or 404) for an id it does not hold."""
        instance = _json(self.http.request("GET", f"/instances/{ref}/")).get("instances")
        if not instance:
            raise ProviderError(NOT_FOUND, f"Vast holds no instance {ref}")
        return _node(instance)

    def terminate(self, ref: str) -> None:
        """DELETE /instances/{id}/; an instance Vast does not hold is already gone."""
        with already_gone_is_terminated():
            _json(self.http.request("DELETE", f"/instances/{ref}/"))

    def list_nodes(self) -> list[NodeInfo]:
        """Instances whose label carries the broker's prefix."""
        return [_node(i) for i in self._instances() if rental_from_name(i.get("label")) is not None]

    def _search(self) -> list[dict]:
        # A search changes nothing, so it is retried like a GET though it is a POST.
        return _json(self.http.request("POST", "/bundles/", json=OFFER_QUERY, idempotent=True))["offers"]

    def _cheapest(self, instance_type: str, region: str, spot: bool) -> dict:
        matches = [o for o in self._search() if instance_type_of(o) == instance_type
                   and (o.get("geolocation") or "") == region and (not spot or o.get("min_bid"))]
        if not matches:
            kind = "interruptible " if spot else ""
            raise ProviderError(NO_CAPACITY, f"no rentable {kind}offer for {instance_type} in {region}")
        return min(matches, key=lambda o: (o["min_bid"] if spot else o["dph_total"], o["id"]))

    def _instances(self) -> list[dict]:
        return _json(self.http.request("GET", "/instances/"))["instances"]


def _offer(instance_type: str, region: str, group: list[dict]) -> ProviderOffer:
    first = group[0]
    bids = [o["min_bid"] for o in group if o.get("min_bid")]
    return ProviderOffer(
        instance_type=instance_type, gpu=gpu_of(first), gpus_per_node=int(first["num_gpus"]),
        vcpus=float(first["cpu_cores_effective"]), memory_gb=float(first["cpu_ram"]) / 1024, region=region,
        price_per_hour=min(o["dph_total"] for o in group), spot_price_per_hour=min(bids) if bids else None,
        available_nodes=len(group), interconnect="nvlink" if "SXM" in str(first["gpu_name"]).upper() else "pcie",
    )


def _state(instance: dict) -> str:
    """An interruptible (bid) instance that stopped while meant to run was outbid: Vast's preemption."""
    state = _STATE_BY_STATUS.get(instance.get("actual_status"), "pending")
    if state == "failed" and instance.get("is_bid") and instance.get("intended_status") == "running":
        return "preempted"
    return state


def _node(instance: dict) -> NodeInfo:
    rental = rental_from_name(instance.get("label"))
    offer_like = {k: instance.get(k) for k in ("gpu_name", "num_gpus", "cpu_cores_effective", "cpu_ram")}
    try:
        instance_type = instance_type_of(offer_like)
    except (TypeError, ValueError):
        instance_type = ""
    ip = instance.get("public_ipaddr") or None
    mapped = outside_ports(instance.get("ports")) if ip else {}
    served = sorted(port for port in mapped if port != SSH_PORT)
    return NodeInfo(
        ref=str(instance["id"]), state=_state(instance),
        region=instance.get("geolocation") or "", instance_type=instance_type,
        ip=ip, tags={RENTAL_TAG: rental} if rental else {},
        spot=bool(instance.get("is_bid")), ssh_port=mapped.get(SSH_PORT),
        endpoint=f"http://{ip}:{mapped[served[0]]}" if served else None,
    )


def outside_ports(ports: object) -> dict[int, int]:
    """{container port: outside port} of the published TCP ports (Docker's shape; a port not yet bound is null)."""
    out: dict[int, int] = {}
    for key, bindings in (ports if isinstance(ports, dict) else {}).items():
        port, _, protocol = str(key).partition("/")
        host_port = next((b.get("HostPort") for b in bindings or [] if isinstance(b, dict) and b.get("HostPort")), None)
        if protocol in ("", "tcp") and port.isdigit() and str(host_port).isdigit():
            out[int(port)] = int(host_port)
    return out
