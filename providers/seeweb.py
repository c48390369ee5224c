"""Adapter for Seeweb's ECS API v2 (Cloud Server GPU): KVM servers built from a plan in a location.

Reference: the vendor's API documentation, https://docs.seeweb.it/en/hosting/cloudserver/rest-api/ (API-Endpoints:
Servers, Plan, Regions, Action, Account), and the vendor's Python SDK `ecsapi` 0.4.0 (pypi.org/project/ecsapi,
by Seeweb; `_api.py` and its pydantic models `_server.py`, `_plan.py`, `_action.py`, `_ssh_key.py`), which SkyPilot's
provisioner (sky/provision/seeweb) drives; the error body is the one Seeweb's Go client decodes
(github.com/Seeweb/cloudserver-go-client, `error.go`: `{status, error_code, message}`). Auth is the account's
API token in the `X-APITOKEN` header. Endpoints used: `GET /plans` (every plan, its CPUs, RAM in MB, GPU count and
`gpu_label`, hourly price, compatible regions), `GET /plans/availables` (the plans and regions a create can get now,
with the images each plan takes), `POST /servers` (plan, image, location, notes, ssh_key: answers the server and the
id of its `new_server` action), `GET /servers`, `GET /servers/{name}`, `DELETE /servers/{name}` (a `delete_server`
action), `GET /actions/{id}` (`in-progress`, `completed`, `failed`), `GET|POST /sshkeys` (public keys by label).

A broker instance type is the plan name (`ECS1GPU10`), the region its location (`it-fr2`). Seeweb reports no counts,
only whether a plan can be created in a location now: such an offer has unknown capacity (None), one that cannot 0.
Seeweb sells no spot servers (a spot spec is refused) and opens every port of a server (the launch's ports need no
call). Server creation is asynchronous, and Seeweb accepts a create it lacks the resources for and fails its action:
the adapter checks availability first, and a create whose action has already failed is deleted and reported as
no capacity (a later failure shows as the server's `Fail` status, a failed node). The create call takes no user
data (the SDK's `user_customize` names a stored cloud script whose run is not documented), so Seeweb is
SSH-launched: servers get the partner account's login key (`ssh_key_name`, registered from the private key's
public half when missing) and the broker logs in as `ecuser` to start the plan. Seeweb names servers itself
(`ec2…`) and has neither idempotency keys nor tags: the free-text `notes` carry `gpub-<rental>-<hash of the key>`
(as Lambda's names do) and the node's tags as JSON, and a create first looks for a live server with that name.
A deleted server is forgotten.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from .base import (
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    SshTarget,
    already_gone_is_terminated,
)
from .http import HttpClient, error_kind_from_message, json_or_error
from .lambda_cloud import node_name, rental_from_name
from .ssh_launch import load_private_key

BASE_URL = "https://api.seeweb.it/ecs/v2"
LOGIN_USER = "ecuser"  # the user Seeweb's Ubuntu images install the server's SSH key for
DEFAULT_IMAGE = "ubuntu-2204-nvidia-driver"  # SkyPilot's choice for GPU plans without a default image
_STATE_BY_STATUS = {"Booting": "pending", "Customizing": "pending", "Reimaging": "pending", "Booted": "running",
                    "Deleting": "terminated", "Deleted": "terminated", "Fail": "failed"}
LIVE_STATUSES = frozenset({"Booting", "Customizing", "Reimaging", "Booted"})
_MB_PER_GB = 1024
_CAPACITY_WORDS = ("not available", "lack of resources", "no resources", "capacity")
_QUOTA_WORDS = ("limit", "quota", "credit", "balance")


def error_kind(status: int, message: str) -> str:
    return error_kind_from_message(status, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS)


def _json(response: requests.Response) -> Any:
    return json_or_error(response, "Seeweb", error_kind)


def openssh_public_key(private_key: str) -> str:
    """The OpenSSH public half (`<type> <base64>`) of a private key; ProviderError(invalid_request) if it is none."""
    key = load_private_key(private_key)
    return f"{key.get_name()} {key.get_base64()}"


def notes_of(spec: ProvisionSpec) -> str:
    """The server's notes: the broker's name for the node, then its tags as JSON."""
    return f"{node_name(spec)} {json.dumps(spec.node_tags(), sort_keys=True, separators=(',', ':'))}"


def tags_from_notes(notes: str | None) -> dict[str, str]:
    """The node tags a server's notes carry; {} for a server the broker did not start."""
    name, _, tags = (notes or "").partition(" ")
    if rental_from_name(name) is None:
        return {}
    try:
        parsed = json.loads(tags)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


class SeewebAdapter:
    kind = "seeweb"

    def __init__(self, *, base_url: str = "", credentials: dict, ssh_key_name: str = "gpu-broker", image: str = "",
                 ssh_port: int = 22, timeout: float = 10.0, retries: int = 3, backoff: float = 0.25,
                 http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, headers={"X-APITOKEN": credentials.get("api_key", "")},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self._private_key = credentials.get("ssh_private_key", "")
        self.ssh_key_name, self.image, self.ssh_port = ssh_key_name, image, int(ssh_port)

    def verify(self) -> list[str]:
        """Reading the plans and their availability, then the account's login key (authenticated calls)."""
        gpus = sorted({offer.gpu for offer in self.list_offers()})
        self._login_key(register=False)
        return gpus

    def list_offers(self) -> list[ProviderOffer]:
        """Every Linux GPU plan in each of its regions; one a create can get there now has unknown capacity, else 0."""
        creatable = {(p["name"], r["region"]) for p in self._availables() for r in p.get("region_availables") or []}
        offers = []
        for plan in self._plans():
            gpus = int(plan.get("gpu") or 0)
            if gpus < 1 or not plan.get("available") or plan.get("windows"):  # the plan needs Ubuntu
                continue
            for region in plan.get("available_regions") or []:
                offers.append(ProviderOffer(
                    instance_type=plan["name"], gpu=str(plan.get("gpu_label") or plan["name"]), gpus_per_node=gpus,
                    vcpus=float(plan["cpu"]), memory_gb=round(float(plan["ram"]) / _MB_PER_GB, 2),
                    region=region["location"], price_per_hour=float(plan["hourly_price"]),
                    available_nodes=None if (plan["name"], region["location"]) in creatable else 0))
        return offers

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """POST /servers after checking the plan can be created there, unless a live server carries the name."""
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "Seeweb sells no spot servers")
        name = node_name(spec)
        existing = next((s for s in self._servers() if s.get("status") in LIVE_STATUSES
                         and str(s.get("notes", "")).partition(" ")[0] == name), None)
        if existing is not None:
            return _node(existing)
        plan = self._creatable_plan(spec.instance_type, spec.region)
        image = self.image or plan.get("default_image") or DEFAULT_IMAGE
        images = {i.get("name") for i in plan.get("os_availables") or []}
        if images and image not in images:
            raise ProviderError(INVALID_REQUEST, f"plan {spec.instance_type} takes none of the image {image!r}; "
                                                 f"it takes {', '.join(sorted(images))}")
        body = {"plan": spec.instance_type, "image": image, "location": spec.region, "notes": notes_of(spec),
                "ssh_key": self._login_key(register=True)}
        # Sent once (a POST): a caller retry finds the server by its notes.
        created = _json(self.http.request("POST", "servers", json=body))
        server = created.get("server") or {}
        action = created.get("action_id", created.get("action"))
        if action is not None and self._action(action).get("status") == "failed":
            with already_gone_is_terminated():
                self.terminate(str(server.get("name")))
            raise ProviderError(NO_CAPACITY, f"Seeweb could not create plan {spec.instance_type} in {spec.region} "
                                             f"(action {action} failed)")
        return _node(server)

    def describe(self, ref: str) -> NodeInfo:
        """GET /servers/{name}; Seeweb answers 404 for a server it does not hold (a deleted one included)."""
        return _node(_json(self.http.request("GET", f"servers/{ref}")).get("server") or {})

    def terminate(self, ref: str) -> None:
        """DELETE /servers/{name} (a delete_server action); a server Seeweb does not hold is already gone."""
        with already_gone_is_terminated():
            _json(self.http.request("DELETE", f"servers/{ref}"))

    def list_nodes(self) -> list[NodeInfo]:
        """Live servers whose notes carry the broker's name."""
        return [node for node in map(_node, self._servers())
                if node.rental_id is not None and node.state in ("pending", "running")]

    def ssh_target(self, node: NodeInfo) -> SshTarget | None:
        """`ecuser` at the server's IPv4 once it is booted, with the partner's private key."""
        if node.state != "running" or not node.ip:
            return None
        return SshTarget(host=node.ip, port=self.ssh_port, user=LOGIN_USER, private_key=self._private_key)

    # -- calls -------------------------------------------------------------------------------------
    def _plans(self) -> list[dict]:
        return _json(self.http.request("GET", "plans")).get("plans") or []

    def _availables(self) -> list[dict]:
        return _json(self.http.request("GET", "plans/availables")).get("plans") or []

    def _servers(self) -> list[dict]:
        return _json(self.http.request("GET", "servers")).get("server") or []

    def _action(self, action_id: int | str) -> dict:
        return _json(self.http.request("GET", f"actions/{action_id}")).get("action") or {}

    def _creatable_plan(self, plan: str, region: str) -> dict:
        """The plan's `plans/availables` entry; invalid_request if Seeweb has no such plan there, no_capacity if it
        cannot create it there now (Seeweb would accept the create and fail its action)."""
        available = next((p for p in self._availables() if p.get("name") == plan), None)
        if available and any(r.get("region") == region for r in available.get("region_availables") or []):
            return available
        known = {(p.get("name"), r.get("location")) for p in self._plans() for r in p.get("available_regions") or []}
        if (plan, region) not in known:
            raise ProviderError(INVALID_REQUEST, f"Seeweb has no plan {plan!r} in location {region!r}")
        raise ProviderError(NO_CAPACITY, f"Seeweb cannot create plan {plan} in {region} now")

    def _login_key(self, *, register: bool) -> str:
        """The label of the account key servers get: it must be the public half of the partner's private key."""
        public = openssh_public_key(self._private_key)
        keys = _json(self.http.request("GET", "sshkeys")).get("pubkeys") or []
        known = next((k for k in keys if k.get("label") == self.ssh_key_name), None)
        if known is not None:
            if str(known.get("key", "")).split()[:2] != public.split()[:2]:
                raise ProviderError(INVALID_REQUEST, f"the Seeweb key labelled {self.ssh_key_name!r} is not the "
                                                     "public half of ssh_private_key")
        elif register:
            _json(self.http.request("POST", "sshkeys", json={"key": public, "label": self.ssh_key_name}))
        return self.ssh_key_name


def _node(server: dict) -> NodeInfo:
    if not server.get("name"):
        raise ProviderError(NOT_FOUND, "Seeweb answered without a server")
    status = str(server.get("status", ""))
    state = _STATE_BY_STATUS.get(status, "pending")
    return NodeInfo(ref=str(server["name"]), state=state, region=str(server.get("location") or ""),
                    instance_type=str(server.get("plan") or ""),
                    ip=(server.get("ipv4") or None) if state == "running" else None,
                    tags=tags_from_notes(server.get("notes")))
