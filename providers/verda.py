"""Adapter for the Verda (formerly DataCrunch) Public API v1.

Reference: https://api.verda.com/v1/docs (formerly https://api.datacrunch.io/v1/docs) and the vendor's
own SDK, github.com/verda-cloud/sdk-python (trimmed schema: docs/vendor/verda-openapi.yaml). Auth is the
OAuth 2.0 client-credentials grant (`POST /oauth2/token`) for a Bearer token. Endpoints used:
`GET /instance-types`, `GET /instance-availability` (on demand and `is_spot=true`), `GET /instances`,
`GET /instances/{id}`, `POST /instances` (answers the new id as plain text), `PUT /instances` with
`action: delete`, `GET|POST /scripts` (startup scripts carry the user data), `GET|POST /sshkeys`.
Errors are `{"code": ..., "message": ...}`; a launch Verda cannot place answers 503
"Not enough resources to deploy ...".

Verda has no idempotency keys or tags: the hostname carries the rental and a hash of the key (as for
Lambda) and a launch first looks for a live instance with that hostname. Spot: `is_spot` on create.
The create request has no firewall field: the launch's ports are not sent.
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

BASE_URL = "https://api.verda.com/v1"
_KIND_BY_CODE = {"invalid_request": INVALID_REQUEST, "unauthorized_request": AUTH_FAILED,
                 "insufficient_funds": QUOTA_EXCEEDED, "not_found": NOT_FOUND, "server_error": TRANSIENT}
_STATE_BY_STATUS = {"ordered": "pending", "validating": "pending", "provisioning": "pending",
                    "installing": "pending", "running": "running", "offline": "failed", "error": "failed",
                    "no_capacity": "failed", "deleting": "terminated", "discontinued": "terminated",
                    "notfound": "terminated"}


def error_kind(status: int, code: str, message: str) -> str:
    """The ProviderError kind of a Verda error answer."""
    text = message.lower()
    if code == "service_unavailable" and "not enough resources" in text:
        return NO_CAPACITY
    if code == "forbidden_action":
        return QUOTA_EXCEEDED if "limit" in text or "quota" in text else AUTH_FAILED
    if status == 429 or status >= 500:
        return TRANSIENT
    return _KIND_BY_CODE.get(code) or {401: AUTH_FAILED, 403: AUTH_FAILED, 404: NOT_FOUND}.get(status, INVALID_REQUEST)


def raise_for_error(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"HTTP {response.status_code}")
    raise ProviderError(error_kind(response.status_code, str(body.get("code") or ""), message), message)


def gpu_of(shape: dict) -> str:
    """The type's GPU model; an 80 GB A100 says so (Verda names both sizes 'A100')."""
    model = str(shape.get("model") or "")
    gpus = int((shape.get("gpu") or {}).get("number_of_gpus") or 1)
    memory = float((shape.get("gpu_memory") or {}).get("size_in_gigabytes") or 0)
    return "A100-80GB" if model.upper() == "A100" and memory / gpus >= 70 else model


class VerdaAdapter:
    kind = "verda"

    def __init__(self, *, base_url: str = "", credentials: dict, image: str = "ubuntu-24.04-cuda-12.8-open-docker",
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, timeout=timeout, retries=retries, backoff=backoff)
        self.client_id = credentials.get("client_id", "")
        self.client_secret = credentials.get("client_secret", "")
        self.image = image
        self._token = ""

    def verify(self) -> list[str]:
        """Listing the offers is an authenticated call here."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per type and location with capacity now; spot prices where spot capacity is free."""
        shapes = {s["instance_type"]: s for s in self._call("GET", "/instance-types", params={"currency": "usd"})}
        spot = self._availability(is_spot=True)
        return [_offer(shapes[name], location, (name, location) in spot)
                for name, location in sorted(self._availability(is_spot=False)) if name in shapes]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST /instances, unless an instance with this spec's hostname is already live."""
        hostname = node_name(spec)
        existing = next((i for i in self._instances() if i.get("hostname") == hostname), None)
        if existing is not None:
            return _node(existing)
        body: dict[str, Any] = {
            "instance_type": spec.instance_type, "image": self.image, "hostname": hostname,
            "description": f"gpu-broker rental {spec.rental_id}", "location_code": spec.region,
            "ssh_key_ids": [self._ssh_key(spec.ssh_public_key)] if spec.ssh_public_key.strip() else [],
            "is_spot": spec.spot}
        if spec.user_data:
            body["startup_script_id"] = self._script(spec.user_data)
        # Sent once (a POST): a caller retry finds the instance by hostname.
        ref = self._call("POST", "/instances", json=body, text=True).strip()
        return self.describe(ref)

    def describe(self, ref: str) -> NodeInfo:
        """GET /instances/{id}."""
        return _node(self._call("GET", f"/instances/{ref}"))

    def terminate(self, ref: str) -> None:
        """PUT /instances {action: delete}; an instance already deleted or unknown counts as gone."""
        with already_gone_is_terminated():
            if self.describe(ref).state == "terminated":
                return
            self._call("PUT", "/instances", json={"id": ref, "action": "delete"}, text=True)

    def list_nodes(self) -> list[NodeInfo]:
        """Live instances whose hostname carries the broker's prefix."""
        return [_node(i) for i in self._instances() if rental_from_name(i.get("hostname")) is not None]

    # -- calls -------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, text: bool = False, **kwargs: Any) -> Any:
        """One API call with the Bearer token; an expired token (401) is renewed once."""
        for renew in (False, True):
            response = self.http.request(method, path, headers={"Authorization": f"Bearer {self._auth(renew)}"},
                                         **kwargs)
            if response.status_code != 401 or renew:
                break
        raise_for_error(response)
        if text:
            return response.text
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(TRANSIENT, "Verda answered with a body that is not JSON") from exc

    def _auth(self, renew: bool) -> str:
        if self._token and not renew:
            return self._token
        body = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        response = self.http.request("POST", "/oauth2/token", json=body, idempotent=True)
        raise_for_error(response)
        self._token = response.json()["access_token"]
        return self._token

    def _availability(self, *, is_spot: bool) -> set[tuple[str, str]]:
        rows = self._call("GET", "/instance-availability", params={"is_spot": str(is_spot).lower()})
        return {(name, row["location_code"]) for row in rows for name in row.get("availabilities") or []}

    def _instances(self) -> list[dict]:
        return [i for i in self._call("GET", "/instances") if _STATE_BY_STATUS.get(i.get("status")) != "terminated"]

    def _script(self, user_data: str) -> str:
        name = "gpub-" + hashlib.sha256(user_data.encode()).hexdigest()[:16]
        known = next((s["id"] for s in self._call("GET", "/scripts") if s.get("name") == name), None)
        return known or self._call("POST", "/scripts", json={"name": name, "script": user_data}, text=True).strip()

    def _ssh_key(self, public_key: str) -> str:
        known = next((k["id"] for k in self._call("GET", "/sshkeys") if k.get("key", "").strip() == public_key.strip()),
                     None)
        name = "gpub-" + hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]
        return known or self._call("POST", "/sshkeys", json={"name": name, "key": public_key.strip()}, text=True).strip()


def _offer(shape: dict, location: str, spot_free: bool) -> ProviderOffer:
    gpus = int((shape.get("gpu") or {}).get("number_of_gpus") or 0)
    spot = shape.get("spot_price")
    return ProviderOffer(
        instance_type=shape["instance_type"], gpu=gpu_of(shape), gpus_per_node=gpus,
        vcpus=float((shape.get("cpu") or {}).get("number_of_cores") or 0),
        memory_gb=float((shape.get("memory") or {}).get("size_in_gigabytes") or 0), region=location,
        price_per_hour=float(shape["price_per_hour"]),
        spot_price_per_hour=float(spot) if spot_free and spot not in (None, "") else None,
        interconnect="nvlink" if gpus > 1 and shape.get("p2p") else "pcie",
    )


def _state(instance: dict) -> str:
    """A spot instance Verda discontinued was reclaimed (the broker never describes what it deleted itself)."""
    state = _STATE_BY_STATUS.get(instance.get("status", ""), "pending")
    return "preempted" if state == "terminated" and instance.get("is_spot") else state


def _node(instance: dict) -> NodeInfo:
    rental = rental_from_name(instance.get("hostname"))
    return NodeInfo(
        ref=str(instance["id"]), state=_state(instance),
        region=instance.get("location") or "", instance_type=instance.get("instance_type") or "",
        ip=instance.get("ip") or None, tags={RENTAL_TAG: rental} if rental else {},
        spot=bool(instance.get("is_spot")),
    )
