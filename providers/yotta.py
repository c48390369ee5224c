"""Adapter for the Yotta Labs OpenAPI: GPU pods (containers) in clusters on Yotta's distributed GPU cloud.

Reference: https://docs.yottalabs.ai (API Guides: the `{code, message, data}` envelope, code 10000 = success,
the error codes, the pod statuses, the GPU Types Reference; Pods API), the vendor's SDK github.com/yottalabsai/YottaML
(`docs/openapi.yaml`: `GET /v2/vms/types`, the `X-Api-Key` scheme, 401 answers in the envelope) and SkyPilot's Yotta
provisioner (github.com/skypilot-org/skypilot, sky/provision/yotta/yotta_utils.py and instance.py: the cluster
endpoints, code 44003 = cluster not found, the `expose` entries with `host`/`proxyPort`). Transcription of the
operations used: docs/vendor/yotta-openapi.yaml. Auth is the `X-API-KEY` header; the organisation id is the
second credential. Endpoints used: `GET /openapi/key/check?orgId=` (verify), `GET /v2/vms/types` (availability),
`POST /openapi/v1/pods/cluster/create`, `GET /openapi/v1/pods/cluster/status/{id}`,
`POST /openapi/v1/pods/cluster/create/pod`, `POST /openapi/v1/pods/cluster/pods/list`,
`POST /openapi/v1/pods/cluster/release`, `GET /openapi/v1/pods/list`.

Offers: Yotta publishes no prices and no CPU/RAM per node by API, so the shapes and list prices are the shared
catalogue's Yotta rows (`yotta_catalog`, whose instance types are what the cluster create takes). Live
availability comes from `GET /v2/vms/types`, which says per GPU type and region only whether it is available:
`available: false` is 0 nodes, `true` (or a type/region it does not list) is unknown (None), never a guessed
count. A create Yotta refuses for resources ("insufficient system resources", the cause its docs give for a
failed deployment), or a cluster that ends before it runs, is no_capacity.

A node is a one-pod cluster named like the node (the broker's prefix, the rental and a hash of the
idempotency key, as for Lambda), and the cluster name is the node's ref: a create first lists that cluster's
pods and returns the live one; a cluster left without a pod (a create cut short) is released before the error
goes back. The create waits (sleeping between status reads) until the cluster runs, then starts the pod from
`image`; the user data travels as `initializationCommand`: the plan as a bash script (`shell_script`), base64
encoded, decoded into a file and run by bash, then `sleep infinity` (the pod's command must not end). Yotta
sells no spot pods: a spot spec is refused. Ports are `expose` entries (TCP; SSH for 22), open to anyone (Yotta
cannot restrict sources); Yotta maps each to a `proxyPort` on a `host`. The node's `ip` and `ssh_port` are the
SSH entry's host and proxy port, and its `endpoint` the first other entry's (the ports the workload serves come
first, before those users reach directly), so the broker reaches the served port at its mapped port. A
released cluster's pods read TERMINATING, then TERMINATED.
"""

from __future__ import annotations

import base64
from typing import Any

import requests

from .base import (
    AUTH_FAILED,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    RENTAL_TAG,
    TRANSIENT,
    NodeInfo,
    PortRule,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)
from .http import HttpClient, error_kind_from_message, error_message
from .lambda_cloud import node_name, rental_from_name
from .user_data import shell_script
from .yotta_catalog import INSTANCE_TYPE_RE, YOTTA_SHAPES, gpu_type_key

BASE_URL = "https://api.yottalabs.ai"
SUCCESS = 10000
SYSTEM_ERROR = 10002
# Record not exist, VM not found, pod not found (API Guides); cluster not found (SkyPilot's client).
NOT_FOUND_CODES = frozenset({10007, 11000, 13000, 44003})
CLUSTER_NOT_FOUND = 44003
PRIVATE_CLUSTER = 1
SSH_PORT = 22
DEFAULT_IMAGE = "yottalabsai/pytorch:2.9.0-py3.11-cuda12.8.1-cudnn-devel-ubuntu22.04"
INIT_SCRIPT = "/root/gpub-init.sh"
_STATE_BY_STATUS = {"INITIALIZE": "pending", "RUNNING": "running", "PAUSING": "terminated", "PAUSED": "terminated",
                    "TERMINATING": "terminated", "TERMINATED": "terminated", "FAILED": "failed"}
_CLUSTER_ENDED = frozenset({"TERMINATING", "TERMINATED", "FAILED"})
_CAPACITY_WORDS = ("insufficient system resource", "insufficient resource", "no available resource", "sold out",
                   "out of stock", "capacity")
_QUOTA_WORDS = ("balance", "quota", "limit")


def error_kind(status: int, code: Any, message: str) -> str:
    """The ProviderError kind of a Yotta answer: the HTTP status, then the business code, then its message (Yotta
    publishes no code for capacity or quota)."""
    if status in (401, 403):
        return AUTH_FAILED
    if status == 429 or status >= 500 or code == SYSTEM_ERROR:
        return TRANSIENT
    if code in NOT_FOUND_CODES or status == 404:
        return NOT_FOUND
    return error_kind_from_message(400, message, capacity_words=_CAPACITY_WORDS, quota_words=_QUOTA_WORDS)


def _data(response: requests.Response) -> Any:
    """The envelope's `data`; an HTTP error, or a 200 whose `code` is not 10000, raises."""
    try:
        body = response.json()
    except ValueError as exc:
        if response.status_code >= 400:
            message = response.text[:200] or f"HTTP {response.status_code}"
            raise ProviderError(error_kind(response.status_code, None, message), message) from exc
        raise ProviderError(TRANSIENT, "Yotta answered with a body that is not JSON") from exc
    body = body if isinstance(body, dict) else {}
    code = body.get("code")
    if response.status_code >= 400 or code != SUCCESS:
        message = f"Yotta code {code}: {error_message(body, response.status_code)}"
        raise ProviderError(error_kind(response.status_code, code, message), message)
    return body.get("data")


def _code(response: requests.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def init_command(user_data: str) -> str:
    """The pod's `initializationCommand`: the plan decoded into a file and run by bash, then the pod kept up."""
    encoded = base64.b64encode(shell_script(user_data).encode()).decode()
    return (f"bash -c 'mkdir -p /root && echo {encoded} | base64 --decode > {INIT_SCRIPT}; bash {INIT_SCRIPT}; "
            f"sleep infinity'")


def expose(ports: tuple[PortRule, ...]) -> list[dict]:
    """The served ports (opened to a network of their own) first, then the ports users reach, then SSH."""
    others = sorted({p.port: p for p in ports if p.port != SSH_PORT}.values(),
                    key=lambda p: (p.source == "0.0.0.0/0", p.port))
    return [*({"port": p.port, "protocol": "TCP"} for p in others), {"port": SSH_PORT, "protocol": "SSH"}]


def instance_type_of(gpu_type: str, gpus: int, region: str) -> str:
    """The catalogue's instance type of a pod's GPU type, count and region (one per triple), else a plain spelling."""
    key = gpu_type_key(gpu_type)
    return next((name for name, shape in YOTTA_SHAPES.items()
                 if shape.region == region and (m := INSTANCE_TYPE_RE.match(name))
                 and int(m["gpus"]) == gpus and gpu_type_key(m["gpu_type"]) == key), f"{gpus}x_{gpu_type}")


class YottaAdapter:
    kind = "yotta"

    def __init__(self, *, base_url: str = "", credentials: dict, image: str = DEFAULT_IMAGE, disk_gb: int = 100,
                 poll_s: float = 5.0, cluster_timeout_s: float = 180.0, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, http: HttpClient | None = None):
        self.http = http or HttpClient(base_url or BASE_URL, headers={"X-API-KEY": credentials.get("api_key", "")},
                                       timeout=timeout, retries=retries, backoff=backoff)
        self.org_id = credentials.get("org_id", "")
        self.image, self.disk_gb = image, int(disk_gb)
        self.poll_s, self.cluster_timeout_s = float(poll_s), float(cluster_timeout_s)

    def verify(self) -> list[str]:
        """The key check for the organisation (data: whether the key is valid), then the GPU availability read."""
        if _data(self.http.request("GET", "/openapi/key/check", params={"orgId": self.org_id})) is not True:
            raise ProviderError(AUTH_FAILED, f"the API key is not valid for organisation {self.org_id!r}")
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """The catalogue's shapes and prices; Yotta's availability flag per GPU type and region as capacity."""
        available = {(gpu_type_key(str(t.get("gpuType", ""))), str(r.get("region", ""))): bool(r.get("available"))
                     for t in _data(self.http.request("GET", "/v2/vms/types")) or [] for r in t.get("regions") or []}
        offers = []
        for name, shape in YOTTA_SHAPES.items():
            match = INSTANCE_TYPE_RE.match(name)
            gpus = int(match["gpus"])
            flag = available.get((gpu_type_key(match["gpu_type"]), shape.region))
            offers.append(ProviderOffer(
                instance_type=name, gpu=match["gpu_type"], gpus_per_node=gpus, vcpus=float(match["vcpus"]),
                memory_gb=float(match["ram"]), region=shape.region, price_per_hour=shape.price,
                available_nodes=0 if flag is False else None, interconnect="pcie"))
        return offers

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """A one-pod cluster for the spec, unless the cluster of its name already holds a pod."""
        if spec.spot:
            raise ProviderError(INVALID_REQUEST, "Yotta sells no spot pods")
        shape = YOTTA_SHAPES.get(spec.instance_type)
        if shape is None or shape.region != spec.region:
            raise ProviderError(INVALID_REQUEST, f"{spec.instance_type!r} in {spec.region!r} is not a Yotta shape")
        name = node_name(spec)
        pods = self._cluster_pods(name)
        if pods:
            return _node(_current(pods), name)
        if pods is not None:  # a cluster without a pod: an earlier create was cut short
            self.terminate(name)
            raise ProviderError(TRANSIENT, f"cluster {name} had no pod; released it")
        try:
            command = init_command(spec.user_data)
        except ValueError as exc:  # a cloud-config key the script form cannot carry
            raise ProviderError(INVALID_REQUEST, f"the user data has no Yotta form: {exc}") from exc
        ports = expose(spec.ports)
        body = {"clusterName": name, "instanceType": spec.instance_type, "region": spec.region,
                "imageName": self.image, "expose": ports, "publicKey": spec.ssh_public_key.strip(), "sshUser": "root",
                "nodeNum": 1, "clusterType": PRIVATE_CLUSTER, "containerVolumeInGb": self.disk_gb}
        # Sent once (a POST): a caller retry finds the cluster by name.
        cluster_id = _data(self.http.request("POST", "/openapi/v1/pods/cluster/create", json=body))["clusterId"]
        try:
            self._await_cluster(cluster_id, name)
            pod = {"name": name, "imagePublicType": "PUBLIC", "image": self.image, "clusterId": cluster_id,
                   "clusterName": name, "expose": ports, "initializationCommand": command}
            _data(self.http.request("POST", "/openapi/v1/pods/cluster/create/pod", json=pod))
        except ProviderError:
            self.terminate(name)
            raise
        pods = self._cluster_pods(name)
        if pods:
            return _node(_current(pods), name)
        return NodeInfo(ref=name, state="pending", region=spec.region, instance_type=spec.instance_type,
                        tags={RENTAL_TAG: spec.rental_id})  # the new pod is not listed yet

    def describe(self, ref: str) -> NodeInfo:
        """The cluster's pod; a cluster Yotta does not know is not_found, one without a pod yet is pending."""
        pods = self._cluster_pods(ref)
        if pods is None:
            raise ProviderError(NOT_FOUND, f"Yotta holds no cluster {ref}")
        if not pods:
            rental = rental_from_name(ref)
            return NodeInfo(ref=ref, state="pending", region="", instance_type="",
                            tags={RENTAL_TAG: rental} if rental else {})
        return _node(_current(pods), ref)

    def terminate(self, ref: str) -> None:
        """Release the cluster; one Yotta does not know is already gone."""
        with already_gone_is_terminated():
            _data(self.http.request("POST", "/openapi/v1/pods/cluster/release", json={"clusterName": ref},
                                    idempotent=True))

    def list_nodes(self) -> list[NodeInfo]:
        """The organisation's live pods whose name carries the broker's prefix."""
        pods = _data(self.http.request("GET", "/openapi/v1/pods/list")) or []
        nodes = [_node(p, str(p.get("podName") or p.get("name") or "")) for p in pods]
        return [n for n in nodes if n.rental_id is not None and n.state in ("pending", "running")]

    def _cluster_pods(self, name: str) -> list[dict] | None:
        """The cluster's pods; None when Yotta knows no cluster of that name (code 44003). A query, so retried."""
        response = self.http.request("POST", "/openapi/v1/pods/cluster/pods/list", json={"clusterName": name},
                                     idempotent=True)
        if response.status_code == 200 and _code(response) == CLUSTER_NOT_FOUND:
            return None
        return list(_data(response) or [])

    def _await_cluster(self, cluster_id: int | str, name: str) -> None:
        """Read the cluster's status until it runs; one that ends first had no resources."""
        waited = 0.0
        while True:
            status = str((_data(self.http.request("GET", f"/openapi/v1/pods/cluster/status/{cluster_id}"))
                          or {}).get("status", ""))
            if status == "RUNNING":
                return
            if status in _CLUSTER_ENDED:
                raise ProviderError(NO_CAPACITY, f"cluster {name} ended ({status}) before it ran")
            if waited >= self.cluster_timeout_s:
                raise ProviderError(TRANSIENT, f"cluster {name} still {status or 'unknown'} after {waited:.0f} s")
            self.http.sleep(self.poll_s)
            waited += self.poll_s


def _current(pods: list[dict]) -> dict:
    """The cluster's live pod, else its latest."""
    live = [p for p in pods if _STATE_BY_STATUS.get(str(p.get("status"))) in ("pending", "running")]
    return (live or pods)[-1]


def _mapped(pod: dict, ssh: bool) -> dict | None:
    """The first `expose` entry with a host and proxy port, SSH or not."""
    return next((e for e in pod.get("expose") or []
                 if (e.get("protocol") == "SSH") == ssh and e.get("host") and e.get("proxyPort")), None)


def _node(pod: dict, ref: str) -> NodeInfo:
    rental = rental_from_name(ref)
    state = _STATE_BY_STATUS.get(str(pod.get("status", "")), "pending")
    region = str(pod.get("region") or "")
    ssh, service = (_mapped(pod, True), _mapped(pod, False)) if state == "running" else (None, None)
    return NodeInfo(
        ref=ref, state=state, region=region,
        instance_type=instance_type_of(str(pod.get("gpuType") or ""), int(pod.get("gpuCount") or 0), region),
        ip=str(ssh["host"]) if ssh else None, ssh_port=int(ssh["proxyPort"]) if ssh else None,
        endpoint=f"http://{service['host']}:{service['proxyPort']}" if service else None,
        tags={RENTAL_TAG: rental} if rental else {},
    )

