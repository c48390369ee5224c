"""Adapter for the JarvisLabs.ai REST API: GPU containers and VMs in JarvisLabs' own regions.

Reference: the vendor's official SDK and CLI, github.com/jarvislabsai/jarvislabs (`pip install jarvislabs`;
`jarvislabs/instances.py`, `server_meta.py`, `scripts.py`, `ssh_keys.py`, `constants.py`), documented at
https://docs.jarvislabs.ai. Transcription of the operations used: docs/vendor/jarvislabs-openapi.yaml. Auth is
`Authorization: Bearer <token>`. Endpoints used: `GET misc/server_meta` (per GPU type and region: free
devices, on-demand and spot price per GPU, CPUs and RAM per GPU), `POST templates/{template}/create`,
`GET users/fetch`, `GET users/fetch/{machine_id}`, `POST misc/destroy` (`templates/vm/destroy` for a VM),
`GET scripts/`, `POST scripts/add` (a multipart upload: startup scripts carry the user data), `GET|POST ssh/`.

Each region has its own backend (`REGION_URLS`); creates and destroys go to the instance's region. A base
URL given to the adapter serves every region instead (a proxy, or the simulator). A broker instance type is
the catalogue's spelling `<n>x_<gpu type>_<vCPUs>V_<RAM GB>G`, the region JarvisLabs' display code (IN1, IN2,
EU1); the available nodes are the free devices divided by the node's GPUs. Spot is `is_spot` on create.
The launch's ports are the instance's `http_ports`. JarvisLabs has neither idempotency keys nor tags, and
names are at most 40 characters: the name carries the rental and a hash of the key (as for Lambda) and a
create first looks for a live instance with that name. A destroyed instance is forgotten. A create the
backend refuses answers `success: false` with a message; failures otherwise carry `detail`, `message` or
`error` and the status code (401 bad token, 403 insufficient balance, 404 unknown instance).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import requests

from .base import (
    INVALID_REQUEST,
    NOT_FOUND,
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

REGION_URLS = {"india-01": "https://backendprod.jarvislabs.net/", "india-noida-01": "https://backendn.jarvislabs.net/",
               "europe-01": "https://backendeu.jarvislabs.net/"}
DEFAULT_REGION = "india-01"
REGION_CODES = {"india-01": "IN1", "india-noida-01": "IN2", "europe-01": "EU1"}
REGION_BY_CODE = {code: region for region, code in REGION_CODES.items()}
NODE_GPUS = (1, 2, 4, 8)
EUROPE_NODE_GPUS = (1, 8)
INSTANCE_TYPE_RE = re.compile(r"^(?P<n>\d+)x_(?P<gpu>.+)_(?P<cpus>\d+)V_(?P<ram>\d+)G$")
NAME_RENTAL_CHARS = 22  # "gpub-" + 22 + "-" + 12-character key hash = JarvisLabs' 40-character limit
_STATE_BY_STATUS = {"creating": "pending", "resuming": "pending", "running": "running", "pausing": "terminated",
                    "paused": "terminated", "destroying": "terminated", "failed": "failed"}
_CAPACITY_WORDS = ("no free", "not available", "capacity", "out of stock")
_QUOTA_WORDS = ("balance", "limit")


def error_kind(status: int, message: str) -> str:
    """The ProviderError kind of a JarvisLabs error answer (a 200 with `success: false` counts as 400)."""
    return error_kind_from_message(status, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS)


def succeeded(body: Any) -> bool:
    """The backend's success flag, which it sometimes spells `sucess` and sometimes sends as a string."""
    value = body.get("success", body.get("sucess")) if isinstance(body, dict) else None
    return value.lower() == "true" if isinstance(value, str) else bool(value)


def _json(response: requests.Response, *, flagged: bool = False) -> Any:
    """The decoded body; a 4xx/5xx, or a `success: false` where the endpoint sends the flag, raises."""
    try:
        body = response.json()
    except ValueError as exc:
        if response.status_code >= 400:
            raise ProviderError(error_kind(response.status_code, response.text[:200]), response.text[:200]) from exc
        raise ProviderError(TRANSIENT, "JarvisLabs answered with a body that is not JSON") from exc
    if response.status_code >= 400 or (flagged and not succeeded(body)):
        status = response.status_code if response.status_code >= 400 else 400
        message = error_message(body, status)
        raise ProviderError(error_kind(status, message), message)
    return body


def instance_type_of(gpu_type: str, gpus: int, cpus: int, ram_gb: int) -> str:
    return f"{gpus}x_{gpu_type}_{cpus}V_{ram_gb}G"


class JarvisLabsAdapter:
    kind = "jarvislabs"

    def __init__(self, *, base_url: str = "", credentials: dict, template: str = "pytorch", storage_gb: int = 40,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.25,
                 http: HttpClient | None = None):
        base_url = base_url or (http.base_url if http else "")
        self._urls = {region: base_url for region in REGION_URLS} if base_url else dict(REGION_URLS)
        self.http = http or HttpClient(self._urls[DEFAULT_REGION],
                                       headers={"Authorization": f"Bearer {credentials.get('api_key', '')}"},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self._by_url = {self.http.base_url: self.http}
        self.template, self.storage_gb = template, storage_gb

    def verify(self) -> list[str]:
        """Reading the GPU catalogue with the token, then the account's instances (an authenticated call)."""
        gpus = sorted({offer.gpu for offer in self.list_offers()})
        self._instances()
        return gpus

    def list_offers(self) -> list[ProviderOffer]:
        """Per GPU type and region, one offer per node size the region sells; free devices give the capacity."""
        offers = []
        for row in self._server_meta():
            region = REGION_CODES.get(str(row.get("region")))
            if region is None or row.get("workload_type") not in (None, "container") or not row.get("price_per_hour"):
                continue
            free = row.get("effective_num_free_devices")
            free = int(row.get("num_free_devices") or 0) if free is None else int(free)
            sizes = EUROPE_NODE_GPUS if region == "EU1" else NODE_GPUS
            offers += [_offer(row, region, n, free) for n in sizes]
        return offers

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST templates/{template}/create in the spec's region, unless an instance with its name is live."""
        match = INSTANCE_TYPE_RE.match(spec.instance_type)
        if not match or spec.region not in REGION_BY_CODE:
            raise ProviderError(INVALID_REQUEST, f"{spec.instance_type!r} in {spec.region!r} is not a JarvisLabs "
                                                 f"shape <n>x_<gpu>_<cpus>V_<ram>G in one of {sorted(REGION_BY_CODE)}")
        name = node_name(spec, rental_chars=NAME_RENTAL_CHARS)
        existing = next((i for i in self._instances() if i.get("name") == name), None)
        if existing is not None:
            return _node(existing)
        region = REGION_BY_CODE[spec.region]
        if spec.ssh_public_key.strip():
            self._ssh_key(spec.ssh_public_key)
        body = {"gpu_type": match["gpu"], "num_gpus": int(match["n"]), "hdd": self.storage_gb, "region": region,
                "name": name, "is_spot": spec.spot, "duration": "hour", "disk_type": "ssd",
                "http_ports": ",".join(str(p.port) for p in sorted(spec.ports, key=lambda r: r.port) if p.port != 22),
                "script_id": self._script(shell_script(spec.user_data)) if spec.user_data.strip() else None, "script_args": "",
                "fs_id": None, "arguments": ""}
        # Sent once (a POST): a caller retry finds the instance by name.
        created = _json(self._client(region).request("POST", f"templates/{self.template}/create", json=body),
                        flagged=True)
        if not created.get("machine_id"):
            raise ProviderError(INVALID_REQUEST, f"JarvisLabs created no instance: {error_message(created, 200)}")
        return self.describe(str(created["machine_id"]))

    def describe(self, ref: str) -> NodeInfo:
        """GET users/fetch/{machine_id}; JarvisLabs answers 404 (or `success: false`) for one it does not hold."""
        body = _json(self.http.request("GET", f"users/fetch/{ref}"))
        if not succeeded(body) or not body.get("instance"):
            raise ProviderError(NOT_FOUND, f"JarvisLabs holds no instance {ref}")
        return _node(body["instance"])

    def terminate(self, ref: str) -> None:
        """POST misc/destroy (templates/vm/destroy for a VM) in the instance's region; an unknown one is gone."""
        with already_gone_is_terminated():
            instance = _json(self.http.request("GET", f"users/fetch/{ref}")).get("instance")
            if not instance:
                return
            path = "templates/vm/destroy" if instance.get("template") == "vm" else "misc/destroy"
            client = self._client(str(instance.get("region") or DEFAULT_REGION))
            _json(client.request("POST", path, params={"machine_id": ref}), flagged=True)

    def list_nodes(self) -> list[NodeInfo]:
        """Live instances whose name carries the broker's prefix."""
        return [node for node in map(_node, self._instances())
                if node.rental_id is not None and node.state in ("pending", "running")]

    # -- calls -------------------------------------------------------------------------------------
    def _client(self, region: str) -> HttpClient:
        """The client for a region's backend (one session for all)."""
        url = self._urls.get(region, self._urls[DEFAULT_REGION]).rstrip("/")
        if url not in self._by_url:
            self._by_url[url] = HttpClient(url, session=self.http.session, timeout=self.http.timeout,
                                           retries=self.http.retries, backoff=self.http.backoff, sleep=self.http.sleep)
        return self._by_url[url]

    def _server_meta(self) -> list[dict]:
        return _json(self.http.request("GET", "misc/server_meta")).get("server_meta") or []

    def _instances(self) -> list[dict]:
        return _json(self.http.request("GET", "users/fetch"), flagged=True).get("instances") or []

    def _script(self, user_data: str) -> int:
        """The id of the startup script holding `user_data`, uploading it (multipart) under a hash name when new."""
        name = "gpub-" + hashlib.sha256(user_data.encode()).hexdigest()[:16]
        for _ in range(2):
            scripts = _json(self.http.request("GET", "scripts/"), flagged=True).get("script_meta") or []
            known = next((s["script_id"] for s in scripts if s.get("script_name") == name), None)
            if known is not None:
                return int(known)
            # A script with this name is what a retry looks for, so repeating the upload cannot duplicate it.
            _json(self.http.request("POST", "scripts/add", params={"name": name}, idempotent=True,
                                    files={"script": ("startup.sh", user_data.encode(), "application/x-sh")}))
        raise ProviderError(TRANSIENT, f"JarvisLabs does not list the uploaded startup script {name}")

    def _ssh_key(self, public_key: str) -> None:
        """Register the key with the account (instances get every account key) unless it is there."""
        keys = _json(self.http.request("GET", "ssh/"))
        if any(k.get("ssh_key", "").strip() == public_key.strip() for k in keys):
            return
        name = "gpub-" + hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]
        _json(self.http.request("POST", "ssh/", json={"ssh_key": public_key.strip(), "key_name": name}), flagged=True)


def _offer(row: dict, region: str, gpus: int, free_devices: int) -> ProviderOffer:
    cpus, ram = int(row.get("cpus_per_gpu") or 0) * gpus, int(row.get("ram_per_gpu") or 0) * gpus
    spot = row.get("spot_price")
    return ProviderOffer(
        instance_type=instance_type_of(str(row["gpu_type"]), gpus, cpus, ram), gpu=str(row["gpu_type"]),
        gpus_per_node=gpus, vcpus=float(cpus), memory_gb=float(ram), region=region,
        price_per_hour=round(float(row["price_per_hour"]) * gpus, 4),
        spot_price_per_hour=round(float(spot) * gpus, 4) if spot is not None else None,
        available_nodes=free_devices // gpus, interconnect="pcie",
    )


def _ip(instance: dict) -> str | None:
    if instance.get("public_ip"):
        return str(instance["public_ip"])
    host = re.search(r"@(\S+)", str(instance.get("ssh_str") or instance.get("ssh_command") or ""))
    return host.group(1) if host else None


def _node(instance: dict) -> NodeInfo:
    rental = rental_from_name(instance.get("name"))
    running = str(instance.get("status", "")).lower() == "running"
    return NodeInfo(
        ref=str(instance["machine_id"]), state=_STATE_BY_STATUS.get(str(instance.get("status", "")).lower(), "pending"),
        region=REGION_CODES.get(str(instance.get("region")), str(instance.get("region") or "")),
        instance_type=instance_type_of(str(instance.get("gpu_type") or ""), int(instance.get("num_gpus") or 0),
                                       int(instance.get("cores") or 0), int(instance.get("ram") or 0)),
        ip=_ip(instance) if running else None, tags={RENTAL_TAG: rental} if rental else {},
        spot=bool(instance.get("is_spot")),
    )
