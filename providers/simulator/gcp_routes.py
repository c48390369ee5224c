"""A Google Cloud-shaped API (docs/vendor/gcp-compute-openapi.yaml): the OAuth token endpoint of a service
account (`/token`, JWT bearer grant), Compute Engine v1 (`/compute/v1/projects/<p>/...`: aggregated
machine types and instances, instances insert/get/delete, zone operations, firewalls) and the Cloud
Billing Catalog v1 (`/cloudbilling/v1/services/6F81-5844-456A/skus`).

Each seeded region `<r>` has the zones `<r>-a` and `<r>-b`, which share the region's capacity: an insert
that finds none ends its operation in `ZONE_RESOURCE_POOL_EXHAUSTED`, a quota in `QUOTA_EXCEEDED`.
Operations succeed at once: an insert answers `RUNNING`, the operation's `wait` answers `DONE`.
The token endpoint checks the assertion's form, its key id (the partner's simulator token), audience,
scope and lifetime; it holds no public key, so it does not check the signature. The seed knows only whole
machine prices, so the GPU SKU of an (accelerator, region) carries the first seeded machine's price per
GPU and the series' core and RAM SKUs are listed at 0.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

SELF_LINK = "https://www.googleapis.com/compute/v1"
ZONE_SUFFIXES = ("a", "b")
ACCESS_PREFIX = "ya29.sim."
STATUS_BY_KIND = {"invalid_request": (400, "invalid", "INVALID_ARGUMENT"),
                  "auth_failed": (401, "authError", "UNAUTHENTICATED"),
                  "not_found": (404, "notFound", "NOT_FOUND"), "conflict": (409, "alreadyExists", "ALREADY_EXISTS")}
STATUS_BY_STATE = {"pending": "PROVISIONING", "running": "RUNNING", "failed": "REPAIRING"}
ACCELERATOR = {"A100": "nvidia-tesla-a100", "A100-80GB": "nvidia-a100-80gb", "H100": "nvidia-h100-80gb",
               "H200": "nvidia-h200-141gb", "B200": "nvidia-b200", "L4": "nvidia-l4"}
SKU_NAME = {"nvidia-tesla-a100": "Nvidia Tesla A100 GPU", "nvidia-a100-80gb": "Nvidia Tesla A100 80GB GPU",
            "nvidia-h100-80gb": "Nvidia H100 80GB GPU", "nvidia-h100-mega-80gb": "Nvidia H100 80GB Mega GPU",
            "nvidia-h200-141gb": "Nvidia H200 141GB GPU", "nvidia-b200": "Nvidia B200 GPU", "nvidia-l4": "Nvidia L4 GPU"}
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
# The simulator's own records on a node (never shown as labels): its zone, insert requestId and network tags.
ZONE_TAG, REQUEST_TAG, NETWORK_TAGS = "gcp:zone", "gcp:request", "gcp:network-tags"
FILTER_NAME = re.compile(r'^name\s*=\s*"([^"]*)"$')
FILTER_LABEL = re.compile(r"^labels\.([a-z0-9_-]+):\*$")


def service_account_key(token: str, compute_url: str, project: str = "broker-project") -> str:
    """A service account JSON key for this simulator: its key id is the partner's token, its `token_uri`
    the token endpoint beside `compute_url` (`.../gcp/<slug>/compute/v1`)."""
    root = compute_url.rstrip("/").removesuffix("/compute/v1")
    return json.dumps({"type": "service_account", "project_id": project, "private_key_id": token,
                       "private_key": _private_key_pem(), "client_email": f"broker@{project}.iam.gserviceaccount.com",
                       "client_id": "100000000000000000001", "token_uri": f"{root}/token"})


@cache
def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def billing_url(compute_url: str) -> str:
    """The Billing Catalog root beside the simulator's Compute Engine root."""
    return compute_url.rstrip("/").removesuffix("/compute/v1") + "/cloudbilling/v1"


def error(kind: str, message: str) -> Response:
    status, reason, code = STATUS_BY_KIND[kind]
    return Response(status, {"error": {"code": status, "message": message, "status": code,
                                       "errors": [{"message": message, "domain": "global", "reason": reason}]}})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message, "status": "UNAVAILABLE",
                                       "errors": [{"message": message, "domain": "global", "reason": "backendError"}]}})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (GCP's API rate quotas are per project and minute)."""
    return launch_limits(request, faults, "POST", ("instances",))


def rate_limited(wait_s: int) -> Response:
    message = "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'"
    return Response(429, {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED",
                                    "errors": [{"message": message, "domain": "usageLimits",
                                                "reason": "rateLimitExceeded"}]}})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    route, method = request.parts[2:], request.method
    try:
        if route == ["token"] and method == "POST":
            return _token(app, slug, request.body)
        if request.headers.get("authorization", "") != f"Bearer {ACCESS_PREFIX}{app.store.token(slug)}":
            return error("auth_failed", "Request had invalid authentication credentials. Expected OAuth 2 access "
                                        "token, login cookie or other valid authentication credential.")
        if route[:2] == ["compute", "v1"] and len(route) >= 4 and route[2] == "projects":
            return _compute(app, slug, route[3], route[4:], method, request)
        if route[:2] == ["cloudbilling", "v1"] and route[2:] == ["services", "6F81-5844-456A", "skus"]:
            return Response(200, {"skus": _skus(app, slug), "nextPageToken": ""})
        return error("not_found", "The requested URL was not found on this server.")
    except SimError as exc:
        return error(exc.kind, exc.message)


# -- OAuth -------------------------------------------------------------------------------------------
def _token(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict) or body.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
    try:
        header, claims = (json.loads(_unb64(part)) for part in str(body.get("assertion", "")).split(".")[:2])
        signature = str(body["assertion"]).split(".")[2]
    except (ValueError, IndexError, binascii.Error):
        return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: malformed."})
    problems = [header.get("alg") != "RS256", not signature, not str(claims.get("aud", "")).endswith("/token"),
                "cloud-platform" not in str(claims.get("scope", "")) and "compute" not in str(claims.get("scope", "")),
                not isinstance(claims.get("iat"), int) or not isinstance(claims.get("exp"), int)
                or not 0 < claims["exp"] - claims["iat"] <= 3600, not claims.get("iss")]
    if any(problems):
        return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: claims rejected."})
    if header.get("kid") != app.store.token(slug):
        return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    return Response(200, {"access_token": f"{ACCESS_PREFIX}{app.store.token(slug)}", "expires_in": 3599,
                          "token_type": "Bearer"})


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- Compute Engine ---------------------------------------------------------------------------------
def _compute(app: SimulatorApp, slug: str, project: str, route: list[str], method: str, request: Request) -> Response:
    if route[:1] == ["aggregated"] and len(route) == 2 and method == "GET":
        return _aggregated(app, slug, project, route[1], request.query.get("filter", ""))
    if route[:2] == ["global", "firewalls"]:
        return _firewalls(app, slug, project, route[2:], method, request.body)
    if len(route) >= 3 and route[0] == "zones" and _zone_region(app, slug, route[1]) is None:
        return error("not_found", f"The resource 'projects/{project}/zones/{route[1]}' was not found")
    if len(route) == 3 and route[0] == "zones" and route[2] == "instances" and method == "POST":
        return _insert(app, slug, project, route[1], request.query.get("requestId", ""), request.body)
    if len(route) == 4 and route[0] == "zones" and route[2] == "instances":
        node = _find(app, slug, route[1], route[3])
        if node is None:
            return error("not_found", f"The resource 'projects/{project}/zones/{route[1]}/instances/{route[3]}' "
                                      "was not found")
        if method == "GET":
            return Response(200, _instance(app, slug, project, node))
        if method == "DELETE":
            app.node_stopped(app.store.terminate_node(slug, node["id"])["id"])
            return Response(200, _operation(project, route[1], "delete", node, "RUNNING"))
    waiting = (len(route) == 5 and route[4] == "wait" and method == "POST") or (len(route) == 4 and method == "GET")
    if route[0] == "zones" and route[2] == "operations" and waiting:
        kind, _, node_id = route[3].removeprefix("operation-").partition("-")
        return Response(200, _operation(project, route[1], kind, app.store.get_node(slug, node_id), "DONE"))
    return error("not_found", "The requested URL was not found on this server.")


def zones(region: str) -> list[str]:
    return [f"{region}-{suffix}" for suffix in ZONE_SUFFIXES]


def _zone_region(app: SimulatorApp, slug: str, zone: str) -> str | None:
    region = zone.rsplit("-", 1)[0]
    return region if zone in zones(region) and any(o["region"] == region for o in app.store.offers(slug)) else None


def accelerator_type(offer: dict) -> str:
    if offer["gpu"] == "H100" and "megagpu" in offer["instance_type"]:
        return "nvidia-h100-mega-80gb"
    return ACCELERATOR.get(offer["gpu"], "nvidia-" + offer["gpu"].lower())


def series(machine_type: str) -> str:
    return machine_type.split("-", 1)[0].upper()


def _machine_type(project: str, zone: str, offer: dict) -> dict:
    return {"kind": "compute#machineType", "id": str(_number(f"mt|{offer['instance_type']}")),
            "creationTimestamp": "2020-09-01T00:00:00.000-07:00", "name": offer["instance_type"],
            "description": f"{int(offer['vcpus'])} vCPUs, {int(offer['memory_gb'])} GB RAM, "
                           f"{offer['gpus_per_node']} {offer['gpu']}",
            "guestCpus": int(offer["vcpus"]), "memoryMb": int(offer["memory_gb"] * 1024), "imageSpaceGb": 0,
            "maximumPersistentDisks": 128, "maximumPersistentDisksSizeGb": "263168", "zone": zone,
            "isSharedCpu": False, "selfLink": f"{SELF_LINK}/projects/{project}/zones/{zone}/machineTypes/"
                                              f"{offer['instance_type']}",
            "accelerators": [{"guestAcceleratorType": accelerator_type(offer),
                              "guestAcceleratorCount": offer["gpus_per_node"]}]}


def _matches(filter_: str, name: str, labels: dict[str, str]) -> bool:
    if not filter_:
        return True
    if match := FILTER_NAME.match(filter_.strip()):
        return name == match.group(1)
    if match := FILTER_LABEL.match(filter_.strip()):
        return match.group(1) in labels
    raise SimError("invalid_request", f"Invalid value for field 'filter': '{filter_}'. The simulator reads "
                                      '`name = "<name>"` and `labels.<key>:*`.')


def _aggregated(app: SimulatorApp, slug: str, project: str, what: str, filter_: str) -> Response:
    items: dict[str, dict] = {}
    if what == "machineTypes":
        for offer in app.store.offers(slug):
            for zone in zones(offer["region"]):
                if _matches(filter_, offer["instance_type"], {}):
                    items.setdefault(f"zones/{zone}", {"machineTypes": []})["machineTypes"].append(
                        _machine_type(project, zone, offer))
    elif what == "instances":
        for node in app.store.list_nodes(slug):
            if _matches(filter_, node["name"], _labels(node)):
                zone = node["tags"].get(ZONE_TAG, "")
                items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(
                    _instance(app, slug, project, node))
    else:
        return error("not_found", f"no aggregated list of {what}")
    return Response(200, {"kind": f"compute#{what[:-1]}AggregatedList", "id": f"projects/{project}/aggregated/{what}",
                          "items": items, "selfLink": f"{SELF_LINK}/projects/{project}/aggregated/{what}"})


def _find(app: SimulatorApp, slug: str, zone: str, name: str) -> dict | None:
    return next((n for n in app.store.list_nodes(slug) if n["name"] == name and n["tags"].get(ZONE_TAG) == zone),
                None)


def _labels(node: dict) -> dict[str, str]:
    return {k: v for k, v in node["tags"].items() if not k.startswith("gcp:")}


def _insert(app: SimulatorApp, slug: str, project: str, zone: str, request_id: str, body: object) -> Response:
    problem = _invalid_insert(body, zone)
    if problem:
        return error("invalid_request", problem)
    machine_type = body["machineType"].rsplit("/", 1)[-1]
    existing = next((n for n in app.store.list_nodes(slug) if n["name"] == body["name"]), None)
    if existing is not None and (not request_id or existing["tags"].get(REQUEST_TAG) != request_id):
        return error("conflict", f"The resource 'projects/{project}/zones/{zone}/instances/{body['name']}' "
                                 "already exists")
    if existing is not None:
        return Response(200, _operation(project, zone, "insert", existing, "RUNNING"))
    metadata = {item["key"]: item.get("value", "") for item in (body.get("metadata") or {}).get("items") or []}
    scheduling = body.get("scheduling") or {}
    network_tags = (body.get("tags") or {}).get("items") or []
    tags = {**body.get("labels", {}), ZONE_TAG: zone, REQUEST_TAG: request_id, NETWORK_TAGS: ",".join(network_tags)}
    try:
        node, _ = app.store.create_node(
            slug, instance_type=machine_type, region=zone.rsplit("-", 1)[0], name=body["name"], tags=tags,
            idempotency_key=f"{zone}|{request_id}" if request_id else None, user_data=metadata.get("user-data", ""),
            ssh_public_key=metadata.get("ssh-keys", ""), spot=scheduling.get("provisioningModel") == "SPOT",
            ports=_ports(app, slug, network_tags), loopback=app.run_user_data,
            capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    except SimError as exc:
        if exc.kind == "invalid_request":
            return error("invalid_request", f"Invalid value for field 'resource.machineType': {exc.message}")
        code = {"no_capacity": "ZONE_RESOURCE_POOL_EXHAUSTED", "quota_exceeded": "QUOTA_EXCEEDED"}[exc.kind]
        message = (f"The zone 'projects/{project}/zones/{zone}' does not have enough resources available to fulfill "
                   "the request. Try a different zone, or try again later." if exc.kind == "no_capacity" else
                   f"Quota 'GPUS_ALL_REGIONS' exceeded. {exc.message}.")
        failed = {"id": f"failed-{_number(request_id or body['name'])}", "name": body["name"]}
        return Response(200, {**_operation(project, zone, "insert", failed, "DONE"),
                              "error": {"errors": [{"code": code, "message": message}]},
                              "httpErrorStatusCode": 503 if exc.kind == "no_capacity" else 403})
    app.node_started(slug, node, node["user_data"])
    return Response(200, _operation(project, zone, "insert", node, "RUNNING"))


def _invalid_insert(body: object, zone: str) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("name"), str) or not NAME_RE.match(body["name"]):
        return "Invalid value for field 'resource.name': must match [a-z]([-a-z0-9]{0,61}[a-z0-9])?"
    machine_type = body.get("machineType")
    if not isinstance(machine_type, str) or f"zones/{zone}/machineTypes/" not in machine_type:
        return f"Invalid value for field 'resource.machineType': must be zones/{zone}/machineTypes/<type>"
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or len(labels) > 64 or not all(
            isinstance(k, str) and isinstance(v, str) and LABEL_RE.match(k) and k[:1].isalpha() and LABEL_RE.match(v)
            for k, v in labels.items()):
        return "Invalid value for field 'resource.labels': keys and values are [a-z0-9_-]{0,63}, keys start a-z"
    scheduling = body.get("scheduling") or {}
    if scheduling.get("provisioningModel", "STANDARD") not in ("STANDARD", "SPOT"):
        return "Invalid value for field 'resource.scheduling.provisioningModel'"
    if scheduling.get("provisioningModel") == "SPOT" and scheduling.get("automaticRestart"):
        return "Invalid value for field 'resource.scheduling.automaticRestart': Spot VMs cannot restart"
    if not body.get("disks") or not body.get("networkInterfaces"):
        return "Invalid value for field 'resource': disks and networkInterfaces are required"
    return None


def _operation(project: str, zone: str, kind: str, node: dict, status: str) -> dict:
    name = f"operation-{kind}-{node['id']}"
    target = f"{SELF_LINK}/projects/{project}/zones/{zone}/instances/{node['name']}"
    return {"kind": "compute#operation", "id": str(_number(name)), "name": name, "zone": f"{SELF_LINK}/projects/"
            f"{project}/zones/{zone}", "operationType": kind, "targetLink": target,
            "targetId": str(_number(node["id"])), "status": status, "user": "broker@sim.iam.gserviceaccount.com",
            "progress": 100 if status == "DONE" else 0, "insertTime": _iso(None),
            "selfLink": f"{SELF_LINK}/projects/{project}/zones/{zone}/operations/{name}"}


def _instance(app: SimulatorApp, slug: str, project: str, node: dict) -> dict:
    zone = node["tags"].get(ZONE_TAG, "")
    offer = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]), None)
    base = f"{SELF_LINK}/projects/{project}/zones/{zone}"
    spot = node["spot"]
    return {
        "kind": "compute#instance", "id": str(_number(node["id"])), "creationTimestamp": _iso(node["created_at"]),
        "name": node["name"], "description": "", "status": STATUS_BY_STATE.get(node["state"], "TERMINATED"),
        "machineType": f"{base}/machineTypes/{node['instance_type']}", "zone": base,
        "labels": _labels(node), "labelFingerprint": hashlib.sha256(json.dumps(_labels(node)).encode()).hexdigest()[:12],
        "tags": {"items": [t for t in node["tags"].get(NETWORK_TAGS, "").split(",") if t], "fingerprint": "sim"},
        "scheduling": {"provisioningModel": "SPOT" if spot else "STANDARD", "onHostMaintenance": "TERMINATE",
                       "automaticRestart": not spot, "preemptible": spot,
                       **({"instanceTerminationAction": "DELETE"} if spot else {})},
        "networkInterfaces": [{"name": "nic0", "network": f"{SELF_LINK}/projects/{project}/global/networks/default",
                               "networkIP": f"10.128.0.{_number(node['id']) % 250 + 2}",
                               "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT",
                                                  "natIP": node["ip"]}]}],
        "disks": [{"boot": True, "autoDelete": True, "deviceName": "persistent-disk-0", "type": "PERSISTENT",
                   "mode": "READ_WRITE"}],
        "guestAccelerators": [{"acceleratorType": f"{base}/acceleratorTypes/{accelerator_type(offer)}",
                               "acceleratorCount": offer["gpus_per_node"]}] if offer else [],
        "selfLink": f"{base}/instances/{node['name']}",
    }


def _ports(app: SimulatorApp, slug: str, network_tags: list[str]) -> list[dict]:
    return [rule for r in app.store.firewall_rulesets(slug) if r["name"] in network_tags for rule in r["rules"]]


def _firewalls(app: SimulatorApp, slug: str, project: str, route: list[str], method: str, body: object) -> Response:
    rulesets = {r["name"]: r for r in app.store.firewall_rulesets(slug) if r["region"] == "global"}
    if len(route) == 1 and method == "GET":
        if route[0] not in rulesets:
            return error("not_found", f"The resource 'projects/{project}/global/firewalls/{route[0]}' was not found")
        return Response(200, _firewall(project, rulesets[route[0]]))
    if not route and method == "POST":
        problem = _invalid_firewall(body)
        if problem:
            return error("invalid_request", problem)
        if body["name"] in rulesets:
            return error("conflict", f"The resource 'projects/{project}/global/firewalls/{body['name']}' already "
                                     "exists")
        rules = [{"port": int(port), "source": source} for source in body["sourceRanges"]
                 for allowed in body["allowed"] for port in allowed.get("ports") or []]
        ruleset = app.store.add_firewall_ruleset(slug, body["name"], "global", rules)
        target = f"{SELF_LINK}/projects/{project}/global/firewalls/{body['name']}"
        return Response(200, {"kind": "compute#operation", "id": str(_number(ruleset["id"])),
                              "name": f"operation-firewall-{ruleset['id']}", "operationType": "insert",
                              "targetLink": target, "status": "DONE", "progress": 100, "insertTime": _iso(None),
                              "selfLink": f"{SELF_LINK}/projects/{project}/global/operations/"
                                          f"operation-firewall-{ruleset['id']}"})
    return error("not_found", "The requested URL was not found on this server.")


def _invalid_firewall(body: object) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not NAME_RE.match(body["name"]):
        return "Invalid value for field 'resource.name'"
    if body.get("direction", "INGRESS") != "INGRESS":
        return "the simulator keeps ingress rules only"
    if not isinstance(body.get("sourceRanges"), list) or not body["sourceRanges"]:
        return "Invalid value for field 'resource.sourceRanges'"
    allowed = body.get("allowed")
    if not isinstance(allowed, list) or not allowed or not all(
            isinstance(a, dict) and a.get("IPProtocol") == "tcp" and all(str(p).isdigit() for p in a.get("ports") or [])
            for a in allowed):
        return "Invalid value for field 'resource.allowed': tcp ports"
    return None


def _firewall(project: str, ruleset: dict) -> dict:
    sources = sorted({r["source"] for r in ruleset["rules"]})
    ports = sorted({str(r["port"]) for r in ruleset["rules"]}, key=int)
    return {"kind": "compute#firewall", "id": str(_number(ruleset["id"])), "name": ruleset["name"],
            "network": f"{SELF_LINK}/projects/{project}/global/networks/default", "direction": "INGRESS",
            "priority": 1000, "sourceRanges": sources, "targetTags": [ruleset["name"]],
            "allowed": [{"IPProtocol": "tcp", "ports": ports}], "disabled": False,
            "selfLink": f"{SELF_LINK}/projects/{project}/global/firewalls/{ruleset['name']}"}


# -- Cloud Billing Catalog ----------------------------------------------------------------------------
def _skus(app: SimulatorApp, slug: str) -> list[dict]:
    gpu_prices: dict[tuple[str, str, bool], float] = {}
    series_regions: set[tuple[str, str]] = set()
    for offer in app.store.offers(slug):
        accelerator = accelerator_type(offer)
        series_regions.add((series(offer["instance_type"]), offer["region"]))
        gpu_prices.setdefault((accelerator, offer["region"], False), offer["price_per_hour"] / offer["gpus_per_node"])
        if offer["spot_price_per_hour"]:
            gpu_prices.setdefault((accelerator, offer["region"], True),
                                  offer["spot_price_per_hour"] / offer["gpus_per_node"])
    skus = [_sku(SKU_NAME.get(accelerator, accelerator), "GPU", region, spot, price, "h")
            for (accelerator, region, spot), price in sorted(gpu_prices.items())]
    for name, region in sorted(series_regions):
        for spot in (False, True):
            skus.append(_sku(f"{name} Instance Core", "CPU", region, spot, 0.0, "h"))
            skus.append(_sku(f"{name} Instance Ram", "RAM", region, spot, 0.0, "GiBy.h"))
    return skus


def _sku(what: str, group: str, region: str, spot: bool, price: float, unit: str) -> dict:
    description = f"{'Spot Preemptible ' if spot else ''}{what} running in {region}"
    sku_id = _sku_id(description)
    units, nanos = int(price), round((price - int(price)) * 1e9)
    return {"name": f"services/6F81-5844-456A/skus/{sku_id}", "skuId": sku_id, "description": description,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute", "resourceGroup": group,
                         "usageType": "Preemptible" if spot else "OnDemand"},
            "serviceRegions": [region], "serviceProviderName": "Google",
            "pricingInfo": [{"summary": "", "effectiveTime": "2026-01-01T00:00:00Z", "currencyConversionRate": 1,
                             "pricingExpression": {"usageUnit": unit, "displayQuantity": 1, "baseUnit": "s",
                                                   "usageUnitDescription": "hour", "baseUnitConversionFactor": 3600,
                                                   "tieredRates": [{"startUsageAmount": 0, "unitPrice": {
                                                       "currencyCode": "USD", "units": str(units),
                                                       "nanos": nanos}}]}}]}


@cache
def _sku_id(description: str) -> str:
    digest = hashlib.sha256(description.encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def _number(key: str) -> int:
    return int(hashlib.sha256(str(key).encode()).hexdigest()[:15], 16)


def _iso(timestamp: float | None) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else datetime(2026, 1, 1, tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "-00:00"
