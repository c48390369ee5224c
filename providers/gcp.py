"""Adapter for Google Cloud: Compute Engine API v1 for machines, Cloud Billing Catalog API v1 for prices.

References: https://cloud.google.com/compute/docs/reference/rest/v1 (instances insert/get/delete,
aggregatedList of instances and machineTypes, zoneOperations.wait, firewalls insert/get; the
`{"error": {code, message, errors: [{reason}]}}` envelope), https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list
and https://developers.google.com/identity/protocols/oauth2/service-account (a JWT signed with the
service account's key, exchanged at the key's `token_uri` for a Bearer token). Trimmed schema:
docs/vendor/gcp-compute-openapi.yaml (from the Compute and Cloud Billing discovery documents).

The REST API is used directly through the one HTTP seam: google-cloud-compute speaks gRPC-transcoded
REST that cannot be pointed at an arbitrary local endpoint for every call, and the signed-JWT grant is a
few lines with `cryptography`. The credential is the service account's JSON key; the project is its
`project_id` unless the `project` option says otherwise. The key's private half never leaves this process.

GCP sells machine types per zone; the broker's region is the GCP region and a launch tries each zone of
the region that offers the machine type, in order: a zone whose insert operation ends in
`ZONE_RESOURCE_POOL_EXHAUSTED` (or `..._WITH_DETAILS`) is skipped; all exhausted is no capacity.
GCP publishes no capacity figures, so offers report unknown availability. A machine type's hourly price
is its vCPUs × the series' "Instance Core" SKU + its GiB × the "Instance Ram" SKU + its GPUs × the GPU's
SKU in that region (the "Spot Preemptible" SKUs for the spot price). Idempotency: the instance name is a
hash of the key (a second insert of the name is refused by GCP) and a launch first looks for it; the
insert's `requestId` is derived from the key and zone, so a retried insert is one insert. Tags are labels
(keys and values restricted to `[a-z0-9_-]`, `:` becomes `_`). Spot is `scheduling.provisioningModel:
SPOT` with `instanceTerminationAction: DELETE`. Ports are one ingress firewall rule per set of rules,
targeted at a network tag the instance carries. A deleted instance is forgotten (describe: not_found).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from .base import (
    AUTH_FAILED,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    QUOTA_EXCEEDED,
    TRANSIENT,
    NodeInfo,
    PortRule,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient

BASE_URL = "https://compute.googleapis.com/compute/v1"
BILLING_URL = "https://cloudbilling.googleapis.com/v1"
COMPUTE_SERVICE = "services/6F81-5844-456A"  # Compute Engine in the Cloud Billing catalogue
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IMAGE = "projects/ubuntu-os-accelerator-images/global/images/family/ubuntu-accelerator-2204-amd64-with-nvidia-550"
NAME_PREFIX = "gpub-"
EXHAUSTED = ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS")
QUOTA_CODES = ("QUOTA_EXCEEDED", "quotaExceeded", "rateLimitExceeded")
# The accelerator type as the Billing Catalog's GPU SKU names it.
GPU_SKU = {"nvidia-tesla-a100": "Nvidia Tesla A100 GPU", "nvidia-a100-80gb": "Nvidia Tesla A100 80GB GPU",
           "nvidia-h100-80gb": "Nvidia H100 80GB GPU", "nvidia-h100-mega-80gb": "Nvidia H100 80GB Mega GPU",
           "nvidia-h200-141gb": "Nvidia H200 141GB GPU", "nvidia-b200": "Nvidia B200 GPU",
           "nvidia-l4": "Nvidia L4 GPU"}
_STATE_BY_STATUS = {"PROVISIONING": "pending", "STAGING": "pending", "RUNNING": "running", "REPAIRING": "failed",
                    "STOPPING": "failed", "TERMINATED": "failed", "SUSPENDING": "failed", "SUSPENDED": "failed"}
_KIND_BY_REASON = {"notFound": NOT_FOUND, "authError": AUTH_FAILED, "forbidden": AUTH_FAILED,
                   "quotaExceeded": QUOTA_EXCEEDED, "invalid": INVALID_REQUEST, "badRequest": INVALID_REQUEST,
                   "alreadyExists": INVALID_REQUEST}
_LABEL = re.compile(r"[^a-z0-9_-]")
_WAITS = 20  # zoneOperations.wait returns after at most ~2 minutes; a launch waits up to this many times


def error_kind(status: int, reason: str, message: str) -> str:
    """The ProviderError kind of a Compute Engine error answer."""
    if status == 429 or status >= 500:
        return TRANSIENT
    if status == 401:
        return AUTH_FAILED
    if reason in _KIND_BY_REASON:
        return _KIND_BY_REASON[reason]
    if "quota" in message.lower():
        return QUOTA_EXCEEDED
    return {403: AUTH_FAILED, 404: NOT_FOUND}.get(status, INVALID_REQUEST)


def _json(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        error = (body or {}).get("error") if isinstance(body, dict) else None
        if isinstance(error, str):  # the OAuth token endpoint: {"error": "invalid_grant", "error_description"}
            message = str(body.get("error_description") or error)
            kind = TRANSIENT if response.status_code >= 500 or response.status_code == 429 else AUTH_FAILED
            raise ProviderError(kind, f"token exchange refused: {message}")
        error = error if isinstance(error, dict) else {}
        reasons = [e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)]
        message = str(error.get("message") or f"HTTP {response.status_code}")
        raise ProviderError(error_kind(response.status_code, reasons[0] if reasons else "", message), message)
    if body is None:
        raise ProviderError(TRANSIENT, "Google answered with a body that is not JSON")
    return body


def label_key(key: str) -> str:
    """A label key GCP accepts: [a-z0-9_-], at most 63 characters, starting with a letter."""
    key = _LABEL.sub("_", key.lower())
    return (key if key[:1].isalpha() else f"k{key}")[:63]


def label_value(value: str) -> str:
    return _LABEL.sub("_", str(value).lower())[:63]


def tags_from_labels(labels: dict[str, str]) -> dict[str, str]:
    """Labels back to the broker's tags: `gpu-broker_rental` → `gpu-broker:rental`."""
    return {(f"gpu-broker:{k[len('gpu-broker_'):]}" if k.startswith("gpu-broker_") else k): v
            for k, v in labels.items()}


def instance_name(spec: ProvisionSpec) -> str:
    return NAME_PREFIX + hashlib.sha256(spec.idempotency_key.encode()).hexdigest()[:24]


def region_of(zone: str) -> str:
    """'us-central1-a' → 'us-central1'."""
    return zone.rsplit("-", 1)[0]


def firewall_name(ports: tuple[PortRule, ...]) -> str:
    rules = sorted((rule.port, rule.source) for rule in ports)
    return NAME_PREFIX + "allow-" + hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


def _last(url: str) -> str:
    return str(url).rstrip("/").rsplit("/", 1)[-1]


def _unit_price(sku: dict) -> float:
    rates = ((sku.get("pricingInfo") or [{}])[0].get("pricingExpression") or {}).get("tieredRates") or []
    price = (rates[-1] if rates else {}).get("unitPrice") or {}
    return int(price.get("units") or 0) + int(price.get("nanos") or 0) / 1e9


class ServiceAccountToken:
    """OAuth 2.0 for a service account: a signed JWT assertion exchanged for an access token."""

    def __init__(self, key: dict, http: HttpClient, *, clock: Callable[[], float] = time.time):
        self.key, self.http, self.clock = key, http, clock
        self.token, self.expires_at = "", 0.0

    def get(self, *, renew: bool = False) -> str:
        if self.token and not renew and self.clock() < self.expires_at - 60:
            return self.token
        body = urlencode({"grant_type": JWT_GRANT, "assertion": self.assertion()})
        answer = _json(self.http.request("POST", self.key["token_uri"].rsplit("/", 1)[1], data=body, idempotent=True,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"}))
        self.token, self.expires_at = answer["access_token"], self.clock() + float(answer.get("expires_in") or 3600)
        return self.token

    def assertion(self) -> str:
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key.get("private_key_id", "")}
        claims = {"iss": self.key["client_email"], "scope": SCOPE, "aud": self.key["token_uri"], "iat": now,
                  "exp": now + 3600}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        private_key = serialization.load_pem_private_key(self.key["private_key"].encode(), password=None)
        signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_key(credentials: dict) -> dict:
    """The service account key (JSON text) with the fields the JWT grant needs."""
    try:
        key = json.loads(credentials.get("service_account_key") or "")
    except (TypeError, ValueError) as exc:
        raise ValueError("service_account_key is not a JSON service account key") from exc
    missing = [f for f in ("client_email", "private_key", "token_uri", "project_id") if not key.get(f)]
    if not isinstance(key, dict) or missing:
        raise ValueError(f"service_account_key lacks {', '.join(missing)}")
    return key


class GcpAdapter:
    kind = "gcp"

    def __init__(self, *, base_url: str = "", credentials: dict, billing_url: str = BILLING_URL, project: str = "",
                 image: str = IMAGE, network: str = "global/networks/default", disk_gb: int = 200,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.25, http: HttpClient | None = None,
                 billing_http: HttpClient | None = None):
        self.key = parse_key(credentials)
        self.http = http or HttpClient(base_url or BASE_URL, timeout=timeout, retries=retries, backoff=backoff)

        def client(url: str) -> HttpClient:  # another endpoint, the same session and the same sleep
            return HttpClient(url, timeout=self.http.timeout, retries=self.http.retries, backoff=self.http.backoff,
                              session=self.http.session, sleep=lambda seconds: self.http.sleep(seconds))

        self.billing = billing_http or client(billing_url)
        self.auth = ServiceAccountToken(self.key, client(self.key["token_uri"].rsplit("/", 1)[0]))
        self.project = project or self.key["project_id"]
        self.image, self.network, self.disk_gb = image, network, int(disk_gb)

    def verify(self) -> list[str]:
        """Listing the machine types and their prices is an authenticated call to both APIs."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per GPU machine type and region; availability unknown (GCP publishes none)."""
        prices = self._prices()
        shapes: dict[tuple[str, str], dict] = {}
        for zone, machine_type in self._machine_types():
            if machine_type.get("accelerators"):
                shapes.setdefault((machine_type["name"], region_of(zone)), machine_type)
        offers = []
        for (_name, region), machine_type in sorted(shapes.items()):
            on_demand = _price(machine_type, region, prices, spot=False)
            if on_demand is not None:
                offers.append(_offer(machine_type, region, on_demand, _price(machine_type, region, prices, spot=True)))
        return offers

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """Insert the instance in the first zone of the region that has room for it."""
        name = instance_name(spec)
        existing = self._instances(f'name = "{name}"')
        if existing:
            return _node(existing[0])
        zones = sorted(zone for zone, _ in self._machine_types(f'name = "{spec.instance_type}"')
                       if region_of(zone) == spec.region)
        if not zones:
            raise ProviderError(INVALID_REQUEST, f"no zone of {spec.region} offers machine type {spec.instance_type}")
        firewalls = self._firewalls(spec.ports)
        exhausted = []
        for zone in zones:
            operation = self._insert(zone, self._body(spec, name, zone, firewalls),
                                     uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.idempotency_key}|{zone}"))
            error = _operation_error(operation)
            if error is None:
                return self.describe(f"{zone}/{name}")
            code, message = error
            if code not in EXHAUSTED:
                kind = QUOTA_EXCEEDED if code in QUOTA_CODES else INVALID_REQUEST
                raise ProviderError(kind, f"{code}: {message}")
            exhausted.append(zone)
        raise ProviderError(NO_CAPACITY, f"ZONE_RESOURCE_POOL_EXHAUSTED in {', '.join(exhausted)} for "
                                         f"{spec.instance_type}")

    def describe(self, ref: str) -> NodeInfo:
        """GET the instance named by `<zone>/<name>`."""
        zone, name = _split(ref)
        return _node(self._call("GET", f"/projects/{self.project}/zones/{zone}/instances/{name}"))

    def terminate(self, ref: str) -> None:
        """DELETE the instance (and its boot disk, autoDelete); an instance GCP does not know is gone."""
        zone, name = _split(ref)
        with already_gone_is_terminated():
            self._call("DELETE", f"/projects/{self.project}/zones/{zone}/instances/{name}")

    def list_nodes(self) -> list[NodeInfo]:
        """Instances labelled with the broker's rental tag, in every zone."""
        return [_node(i) for i in self._instances(f"labels.{label_key('gpu-broker:rental')}:*")]

    # -- calls -------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, client: HttpClient | None = None, **kwargs: Any) -> Any:
        """One authenticated call; an expired or revoked token (401) is renewed once."""
        client = client or self.http
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self.auth.get(renew=renew)}"}
            response = client.request(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or renew:
                break
        return _json(response)

    def _aggregated(self, path: str, field: str, filter_: str = "") -> list[tuple[str, dict]]:
        """(zone, item) for every item of an aggregatedList, across pages."""
        out, token = [], ""
        while True:
            params = {"returnPartialSuccess": "true", **({"filter": filter_} if filter_ else {}),
                      **({"pageToken": token} if token else {})}
            page = self._call("GET", f"/projects/{self.project}/aggregated/{path}", params=params)
            for scope, items in (page.get("items") or {}).items():
                out.extend((scope.removeprefix("zones/"), item) for item in items.get(field) or [])
            token = page.get("nextPageToken") or ""
            if not token:
                return out

    def _machine_types(self, filter_: str = "") -> list[tuple[str, dict]]:
        return self._aggregated("machineTypes", "machineTypes", filter_)

    def _instances(self, filter_: str) -> list[dict]:
        return [item for _, item in self._aggregated("instances", "instances", filter_)]

    def _prices(self) -> list[dict]:
        skus, token = [], ""
        while True:
            params = {"currencyCode": "USD", "pageSize": 5000, **({"pageToken": token} if token else {})}
            page = self._call("GET", f"/{COMPUTE_SERVICE}/skus", client=self.billing, params=params)
            skus.extend(page.get("skus") or [])
            token = page.get("nextPageToken") or ""
            if not token:
                return skus

    def _insert(self, zone: str, body: dict, request_id: uuid.UUID) -> dict:
        """instances.insert, then wait for its zone operation; the requestId makes a retried insert one insert."""
        path = f"/projects/{self.project}/zones/{zone}"
        operation = self._call("POST", f"{path}/instances", params={"requestId": str(request_id)}, json=body,
                               idempotent=True)
        for _ in range(_WAITS):
            if operation.get("status") == "DONE":
                return operation
            operation = self._call("POST", f"{path}/operations/{operation['name']}/wait", idempotent=True)
        raise ProviderError(TRANSIENT, f"insert of {body['name']} in {zone} has not finished")

    def _body(self, spec: ProvisionSpec, name: str, zone: str, firewalls: list[str]) -> dict:
        metadata = [{"key": "user-data", "value": spec.user_data}] if spec.user_data else []
        if spec.ssh_public_key.strip():
            metadata.append({"key": "ssh-keys", "value": f"ubuntu:{spec.ssh_public_key.strip()}"})
        scheduling = ({"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE",
                       "onHostMaintenance": "TERMINATE", "automaticRestart": False} if spec.spot else
                      {"provisioningModel": "STANDARD", "onHostMaintenance": "TERMINATE", "automaticRestart": True})
        return {
            "name": name, "machineType": f"zones/{zone}/machineTypes/{spec.instance_type}",
            "labels": {label_key(k): label_value(v) for k, v in spec.node_tags().items()},
            "tags": {"items": firewalls}, "scheduling": scheduling,
            "disks": [{"boot": True, "autoDelete": True,
                       "initializeParams": {"sourceImage": self.image, "diskSizeGb": str(self.disk_gb)}}],
            "networkInterfaces": [{"network": self.network,
                                   "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}]}],
            "metadata": {"items": metadata},
        }

    def _firewalls(self, ports: tuple[PortRule, ...]) -> list[str]:
        """One ingress rule per source network, opening its ports to instances tagged with its name (made once)."""
        by_source: dict[str, list[PortRule]] = {}
        for rule in ports:
            by_source.setdefault(rule.source, []).append(rule)
        return [self._firewall(source, rules) for source, rules in sorted(by_source.items())]

    def _firewall(self, source: str, rules: list[PortRule]) -> str:
        name = firewall_name(tuple(rules))
        path = f"/projects/{self.project}/global/firewalls"
        try:
            self._call("GET", f"{path}/{name}")
            return name
        except ProviderError as exc:
            if exc.kind != NOT_FOUND:
                raise
        body = {"name": name, "network": self.network, "direction": "INGRESS", "priority": 1000,
                "sourceRanges": [source], "targetTags": [name],
                "allowed": [{"IPProtocol": "tcp", "ports": sorted({str(rule.port) for rule in rules}, key=int)}],
                "description": "gpu-broker: ports its launches need"}
        operation = self._call("POST", path, json=body, idempotent=True)
        if (error := _operation_error(operation)) is not None:
            raise ProviderError(INVALID_REQUEST, f"firewall {name}: {error[0]}: {error[1]}")
        return name


def _operation_error(operation: dict) -> tuple[str, str] | None:
    errors = ((operation.get("error") or {}).get("errors")) or []
    if not errors:
        return None
    return str(errors[0].get("code") or ""), str(errors[0].get("message") or "")


def _split(ref: str) -> tuple[str, str]:
    zone, _, name = ref.partition("/")
    if not zone or not name or "/" in name:
        raise ProviderError(NOT_FOUND, f"{ref!r} is not a <zone>/<instance name> of this adapter")
    return zone, name


def _series(machine_type: str) -> str:
    """'a2-highgpu-1g' → 'A2', the series the Billing Catalog's core and RAM SKUs are named after."""
    return machine_type.split("-", 1)[0].upper()


def _sku_price(prices: list[dict], region: str, group: str, prefix: str, *, spot: bool) -> float | None:
    usage = "Preemptible" if spot else "OnDemand"
    wanted = ("Spot Preemptible " if spot else "") + prefix
    for sku in prices:
        category = sku.get("category") or {}
        if (category.get("resourceGroup") == group and category.get("usageType") == usage
                and region in (sku.get("serviceRegions") or []) and str(sku.get("description", "")).startswith(wanted)):
            return _unit_price(sku)
    return None


def _price(machine_type: dict, region: str, prices: list[dict], *, spot: bool) -> float | None:
    accelerator = machine_type["accelerators"][0]
    sku_name = GPU_SKU.get(accelerator["guestAcceleratorType"])
    series = _series(machine_type["name"])
    parts = [(_sku_price(prices, region, "CPU", f"{series} Instance Core", spot=spot), machine_type["guestCpus"]),
             (_sku_price(prices, region, "RAM", f"{series} Instance Ram", spot=spot), machine_type["memoryMb"] / 1024),
             (_sku_price(prices, region, "GPU", sku_name, spot=spot) if sku_name else None,
              accelerator["guestAcceleratorCount"])]
    if any(unit is None for unit, _ in parts):
        return None
    return round(sum(unit * amount for unit, amount in parts), 6)


def _offer(machine_type: dict, region: str, price: float, spot: float | None) -> ProviderOffer:
    accelerator = machine_type["accelerators"][0]
    gpus = int(accelerator["guestAcceleratorCount"])
    name = machine_type["name"]
    interconnect = "infiniband" if name.startswith(("a3-megagpu", "a3-ultragpu", "a4-")) else "nvlink" if gpus >= 8 else "pcie"
    return ProviderOffer(
        instance_type=name, gpu=accelerator["guestAcceleratorType"], gpus_per_node=gpus,
        vcpus=float(machine_type["guestCpus"]), memory_gb=round(machine_type["memoryMb"] / 1024, 2), region=region,
        price_per_hour=price, spot_price_per_hour=spot, available_nodes=None, interconnect=interconnect,
    )


def _node(instance: dict) -> NodeInfo:
    zone = _last(instance.get("zone", ""))
    nat = [c.get("natIP") for n in instance.get("networkInterfaces") or [] for c in n.get("accessConfigs") or []]
    internal = [n.get("networkIP") for n in instance.get("networkInterfaces") or []]
    return NodeInfo(
        ref=f"{zone}/{instance['name']}", state=_STATE_BY_STATUS.get(instance.get("status", ""), "pending"),
        region=region_of(zone), instance_type=_last(instance.get("machineType", "")),
        ip=next((ip for ip in nat + internal if ip), None), tags=tags_from_labels(instance.get("labels") or {}),
        spot=(instance.get("scheduling") or {}).get("provisioningModel") == "SPOT",
    )
