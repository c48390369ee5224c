"""Adapter for Nebius AI Cloud, a client of its gRPC API through the official Python SDK.

Reference: the API's protobuf definitions, github.com/nebius/api (nebius/compute/v1/instance_service.proto,
platform_service.proto, nebius/iam/v2/project_service.proto, nebius/capacity/v1/resource_advice_service.proto, nebius/vpc/v1/subnet_service.proto,
nebius/billing/v1/calculator_service.proto, nebius/common/v1/error.proto), and the SDK generated from them,
the `nebius` package (github.com/nebius/pysdk, docs: https://nebius.github.io/pysdk/). Auth is an IAM token
sent as `authorization: Bearer`; every call carries a deadline, fails fast when the endpoint refuses the
connection, and makes no SDK retry of its own (the adapter retries transient codes with backoff).

The partner's credentials name a tenant; each of the tenant's projects (`ProjectService.List`) lives in one
region, and the region of a broker offer is its project's region. An offer is one preset of a GPU platform
(`PlatformService.List`), named `<platform>_<preset>` as the catalogue names it; its GPU is the platform string
(`gpu-h100-sxm`, ...). Prices come from the billing calculator (`CalculatorService.EstimateBatch` of the create
request, on demand and, where the platform allows preemptibles, preemptible). Live availability is the
capacity advisor's (`ResourceAdviceService.List`): the on-demand instances of the preset that can start now,
summed over the region's fabrics, read only when its data is fresh (otherwise unknown). Nebius has no idempotency key: the instance's metadata name carries a hash of the
key, a provision first looks the name up (`GetByName`) and a create that meets ALREADY_EXISTS reads it again.
Tags travel as labels (`gpu-broker:` keys as `gpu-broker/`). A spot launch is a preemptible instance
(`spec.preemptible`, stopped on preemption): a preemptible instance found STOPPED was preempted, and its
`updated_at` is the second it ended (Nebius gives no notice ahead). The instance boots from a managed disk of the configured image
family on the project's first subnet, with a public address; user data is the spec's `cloud_init_user_data`.
Nebius takes SSH keys through cloud-init only: the launch's key joins a `#cloud-config`'s `ssh_authorized_keys`
(or makes one when there is no user data); a shell-script user data is sent as it is, without the key.
Nebius opens ports through VPC security groups, which this adapter does not manage: the default group applies.
Errors are gRPC status codes with `ServiceError` details: RESOURCE_EXHAUSTED is quota (`quota_failure`),
capacity (`not_enough_resources`) or a rate limit (`too_many_requests`, transient). A deleted instance is
forgotten: describing it answers not_found.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import yaml
from grpc import StatusCode
from nebius.aio.service_error import RequestError
from nebius.api.nebius.billing.v1 import (
    CalculatorServiceClient,
    EstimateBatchRequest,
    FilterAggregationUnit,
    ResourceSpec,
)
from nebius.api.nebius.capacity.v1 import ListResourceAdviceRequest, ResourceAdviceServiceClient, ResourceAdviceStatus
from nebius.api.nebius.common.v1 import GetByNameRequest, ResourceMetadata
from nebius.api.nebius.compute.v1 import (
    AttachedDiskSpec,
    CreateInstanceRequest,
    DeleteInstanceRequest,
    DiskSpec,
    GetInstanceRequest,
    InstanceServiceClient,
    InstanceSpec,
    IPAddress,
    ListInstancesRequest,
    ListPlatformsRequest,
    ManagedDisk,
    NetworkInterfaceSpec,
    PlatformServiceClient,
    PreemptibleSpec,
    PublicIPAddress,
    ResourcesSpec,
    SourceImageFamily,
)
from nebius.api.nebius.iam.v2 import ListProjectsRequest, ProjectServiceClient
from nebius.api.nebius.vpc.v1 import ListSubnetsRequest, SubnetServiceClient
from nebius.base.error import SDKError
from nebius.base.options import INSECURE
from nebius.base.resolver import Constant
from nebius.sdk import SDK

from .base import (
    AUTH_FAILED,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    QUOTA_EXCEEDED,
    TRANSIENT,
    NodeInfo,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)

NAME_PREFIX = "gpub-"
PAGE_SIZE = 100
USER_AGENT = "gpu-broker/1"
BROKER_KEY_PREFIX, LABEL_KEY_PREFIX = "gpu-broker:", "gpu-broker/"
_KIND_BY_CODE = {
    StatusCode.NOT_FOUND: NOT_FOUND, StatusCode.UNAUTHENTICATED: AUTH_FAILED,
    StatusCode.PERMISSION_DENIED: AUTH_FAILED, StatusCode.UNAVAILABLE: TRANSIENT,
    StatusCode.DEADLINE_EXCEEDED: TRANSIENT, StatusCode.INTERNAL: TRANSIENT, StatusCode.ABORTED: TRANSIENT,
    StatusCode.UNKNOWN: TRANSIENT, StatusCode.CANCELLED: TRANSIENT,
}
_KIND_BY_DETAIL = {"quota_failure": QUOTA_EXCEEDED, "not_enough_resources": NO_CAPACITY,
                   "too_many_requests": TRANSIENT}
_STATE_BY_NAME = {"CREATING": "pending", "STARTING": "pending", "UPDATING": "pending", "UNSPECIFIED": "pending",
                  "RUNNING": "running", "STOPPING": "failed", "STOPPED": "failed", "ERROR": "failed",
                  "DELETING": "terminated"}


def error_kind(code: StatusCode, details: list[str], message: str) -> str:
    """The ProviderError kind of a gRPC status and the `ServiceError` detail fields it carries."""
    if code == StatusCode.RESOURCE_EXHAUSTED:
        found = next((_KIND_BY_DETAIL[d] for d in details if d in _KIND_BY_DETAIL), None)
        return found or (QUOTA_EXCEEDED if "quota" in message.lower() else NO_CAPACITY)
    return _KIND_BY_CODE.get(code, INVALID_REQUEST)


def instance_name(spec: ProvisionSpec) -> str:
    """`gpub-<hash of the idempotency key>`: the same key always names the same instance."""
    return NAME_PREFIX + hashlib.sha256(spec.idempotency_key.encode()).hexdigest()[:24]


def labels_of(tags: dict[str, str]) -> dict[str, str]:
    return {LABEL_KEY_PREFIX + k.removeprefix(BROKER_KEY_PREFIX) if k.startswith(BROKER_KEY_PREFIX) else k: v
            for k, v in tags.items()}


def tags_of(labels: dict[str, str]) -> dict[str, str]:
    return {BROKER_KEY_PREFIX + k.removeprefix(LABEL_KEY_PREFIX) if k.startswith(LABEL_KEY_PREFIX) else k: v
            for k, v in labels.items()}


def with_ssh_key(user_data: str, public_key: str) -> str:
    """The user data with `public_key` among a cloud-config's `ssh_authorized_keys`."""
    key = public_key.strip()
    if not key:
        return user_data
    if not user_data.strip():
        return "#cloud-config\n" + yaml.safe_dump({"ssh_authorized_keys": [key]}, width=10_000)
    if not user_data.lstrip().startswith("#cloud-config"):
        return user_data
    config = yaml.safe_load(user_data) or {}
    if not isinstance(config, dict):
        return user_data
    if "ssh_authorized_keys" not in config:  # appended, so the rest of the document is sent byte for byte
        return user_data.rstrip("\n") + "\n" + yaml.safe_dump({"ssh_authorized_keys": [key]}, width=10_000)
    keys = list(config.get("ssh_authorized_keys") or [])
    config["ssh_authorized_keys"] = keys if key in keys else [*keys, key]
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False, width=10_000)


def _sdk(base_url: str, token: str) -> Any:
    """The SDK channel: Nebius's own endpoints by default; `http://host:port` is a plaintext endpoint,
    `https://host:port` (or `host:port`) a TLS one, every service at that one address."""
    if not base_url:
        return SDK(credentials=token, user_agent_prefix=USER_AGENT)
    scheme, _, address = base_url.rpartition("://")
    options = [(INSECURE, True)] if scheme == "http" else None
    return SDK(credentials=token, user_agent_prefix=USER_AGENT, resolver=Constant(address.rstrip("/")),
               options=options)


class NebiusAdapter:
    kind = "nebius"

    def __init__(self, *, base_url: str = "", credentials: dict, image_family: str = "ubuntu22.04-cuda12",
                 boot_disk_gib: int = 200, timeout: float = 20.0, retries: int = 3, backoff: float = 0.5,
                 rate_limit_wait_s: float = 300.0, sleep: Callable[[float], None] = time.sleep):
        if boot_disk_gib < 1 or timeout <= 0 or retries < 0:
            raise ValueError("boot_disk_gib >= 1, timeout > 0 and retries >= 0 are required")
        self.base_url, self.token = base_url, str(credentials.get("iam_token") or "")
        self.tenant_id = str(credentials.get("tenant_id") or "")
        self.image_family, self.boot_disk_gib = image_family, boot_disk_gib
        self.timeout, self.retries, self.backoff, self.sleep = timeout, retries, backoff, sleep
        self.rate_limit_wait_s = rate_limit_wait_s
        self._channel: Any = None
        self._project_by_region: dict[str, str] | None = None
        self._subnets: dict[str, str] = {}

    def verify(self) -> list[str]:
        """Listing the tenant's projects and their platforms and prices: authenticated calls."""
        return sorted({offer.gpu for offer in self.list_offers()})

    def list_offers(self) -> list[ProviderOffer]:
        """One offer per GPU preset of every platform in every project's region, priced by the calculator."""

        offers = []
        free = self._availability()
        for region, project in self._projects().items():
            for platform in self._pages(PlatformServiceClient(self._sdk()).list, ListPlatformsRequest,
                                        parent_id=project):
                name = platform.metadata.name
                for preset in platform.spec.presets:
                    if preset.resources.gpu_count < 1:
                        continue
                    spot = (self._price(project, name, preset.name, preemptible=True)
                            if platform.status.allowed_for_preemptibles else None)
                    offers.append(ProviderOffer(
                        instance_type=f"{name}_{preset.name}", gpu=name, gpus_per_node=preset.resources.gpu_count,
                        vcpus=float(preset.resources.vcpu_count), memory_gb=float(preset.resources.memory_gibibytes),
                        region=region, price_per_hour=self._price(project, name, preset.name, preemptible=False),
                        spot_price_per_hour=spot, available_nodes=free.get((region, name, preset.name)),
                        interconnect="nvlink" if "-sxm" in name else "pcie"))
        return offers

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """InstanceService.Create, unless an instance with this spec's name exists already."""

        project = self._project(spec.region)
        name = instance_name(spec)
        existing = self._by_name(project, name)
        if existing is not None:
            return self._node(existing)
        request = CreateInstanceRequest(metadata=self._metadata(project, name, spec), spec=self._spec(project, spec))
        try:
            operation = self._call(InstanceServiceClient(self._sdk()).create, request)
        except ProviderError as exc:  # ALREADY_EXISTS: a concurrent or earlier create of this name won
            found = self._by_name(project, name) if exc.kind == INVALID_REQUEST else None
            if found is None:
                raise
            return self._node(found)
        return self.describe(operation.resource_id)

    def describe(self, ref: str) -> NodeInfo:
        """InstanceService.Get."""

        return self._node(self._call(InstanceServiceClient(self._sdk()).get, GetInstanceRequest(id=ref)))

    def terminate(self, ref: str) -> None:
        """InstanceService.Delete; an instance Nebius no longer knows is gone."""

        with already_gone_is_terminated():
            self._call(InstanceServiceClient(self._sdk()).delete, DeleteInstanceRequest(id=ref))

    def list_nodes(self) -> list[NodeInfo]:
        """Live instances labelled with the broker's rental tag, in every project."""

        nodes = [self._node(instance) for project in self._projects().values()
                 for instance in self._pages(InstanceServiceClient(self._sdk()).list, ListInstancesRequest,
                                             parent_id=project)]
        return [n for n in nodes if n.rental_id is not None and n.state != "terminated"]

    # -- calls -------------------------------------------------------------------------------------
    def _sdk(self) -> Any:
        if not self.token:
            raise ProviderError(AUTH_FAILED, "no Nebius IAM token")
        if self._channel is None:
            self._channel = _sdk(self.base_url, self.token)
        return self._channel

    def _call(self, method: Callable[..., Any], request: Any) -> Any:
        """One RPC with a deadline; transient codes are retried with backoff, the rest raise at once.

        A rate limit (TooManyRequests) was refused before anything happened: it is repeated a second later,
        without counting as a retry, for up to `rate_limit_wait_s` in all, so it slows a launch but never fails it.
        """
        attempt, waited = 0, 0.0
        while True:
            rate_limited = False
            try:
                call = method(request, retries=1, timeout=self.timeout)
                call.wait_for_ready = False  # a refused connection is UNAVAILABLE now, not at the deadline
                return call.wait()
            except RequestError as exc:
                status = exc.status
                details = [e.details.field for e in getattr(status, "service_errors", []) if e.details is not None]
                message = status.message or status.code.name
                kind = error_kind(status.code, details, message)
                rate_limited = "too_many_requests" in details
            except (SDKError, OSError) as exc:
                kind, message = TRANSIENT, f"Nebius API unreachable: {exc}"
            if rate_limited and waited + 1.0 <= self.rate_limit_wait_s:
                waited += 1.0
                self.sleep(1.0)
                continue
            if kind != TRANSIENT or attempt >= self.retries:
                raise ProviderError(kind, message)
            self.sleep(self.backoff * 2 ** attempt)
            attempt += 1

    def _pages(self, method: Callable[..., Any], request_type: type, **fields: Any) -> list[Any]:
        items, token = [], ""
        while True:
            page = self._call(method, request_type(page_size=PAGE_SIZE, page_token=token, **fields))
            items.extend(page.items)
            token = page.next_page_token
            if not token:
                return items

    def _projects(self) -> dict[str, str]:
        """region → the tenant's project there (its first one), read once."""

        if self._project_by_region is None:
            projects: dict[str, str] = {}
            for project in self._pages(ProjectServiceClient(self._sdk()).list, ListProjectsRequest,
                                       parent_id=self.tenant_id):
                projects.setdefault(project.spec.region, project.metadata.id)
            self._project_by_region = projects
        return self._project_by_region

    def _project(self, region: str) -> str:
        project = self._projects().get(region)
        if project is None:
            raise ProviderError(INVALID_REQUEST, f"the tenant has no project in region {region!r}")
        return project

    def _region_of(self, project: str) -> str:
        return next((region for region, p in self._projects().items() if p == project), "")

    def _subnet(self, project: str) -> str:

        if project not in self._subnets:
            subnets = self._pages(SubnetServiceClient(self._sdk()).list, ListSubnetsRequest, parent_id=project)
            if not subnets:
                raise ProviderError(INVALID_REQUEST, f"project {project} has no subnet")
            self._subnets[project] = subnets[0].metadata.id
        return self._subnets[project]

    def _by_name(self, project: str, name: str) -> Any | None:
        try:
            return self._call(InstanceServiceClient(self._sdk()).get_by_name,
                              GetByNameRequest(parent_id=project, name=name))
        except ProviderError as exc:
            if exc.kind == NOT_FOUND:
                return None
            raise

    def _availability(self) -> dict[tuple[str, str, str], int]:
        """(region, platform, preset) → on-demand instances that can start now, from fresh advice only."""
        fresh = ResourceAdviceStatus.Availability.DataState.DATA_STATE_FRESH
        free: dict[tuple[str, str, str], int] = {}
        for advice in self._pages(ResourceAdviceServiceClient(self._sdk()).list, ListResourceAdviceRequest,
                                  parent_id=self.tenant_id):
            details, on_demand = advice.spec.compute_instance, advice.status.on_demand
            if not details.platform or on_demand.data_state != fresh:
                continue
            key = (advice.spec.region, details.platform, details.preset.name)
            free[key] = free.get(key, 0) + int(on_demand.available)
        return free

    def _price(self, project: str, platform: str, preset: str, *, preemptible: bool) -> float:
        """The calculator's hourly cost of creating one instance of this preset."""
        spec = InstanceSpec(resources=ResourcesSpec(platform=platform, preset=preset))
        if preemptible:
            spec.preemptible = PreemptibleSpec(on_preemption=PreemptibleSpec.PreemptionPolicy.STOP)
        create = CreateInstanceRequest(metadata=ResourceMetadata(parent_id=project), spec=spec)
        hour = FilterAggregationUnit.FilterAggregationUnitValue.FILTER_AGGREGATION_UNIT_HOUR
        answer = self._call(CalculatorServiceClient(self._sdk()).estimate_batch, EstimateBatchRequest(
            resource_specs=[ResourceSpec(spec=CalculatorServiceClient.__registry__.pack_any(create))],
            filter_aggregation_unit=FilterAggregationUnit(filter_aggregation_unit_values=[hour])))
        cost = next((t.general.total.cost for t in answer.total_costs if t.aggregation_unit.unit == "hour"), "")
        try:
            return float(cost)
        except ValueError:
            raise ProviderError(TRANSIENT, f"the calculator gave no hourly cost for {platform}/{preset}") from None

    def _metadata(self, project: str, name: str, spec: ProvisionSpec) -> Any:

        return ResourceMetadata(parent_id=project, name=name, labels=labels_of(spec.node_tags()))

    def _spec(self, project: str, spec: ProvisionSpec) -> Any:

        platform, _, preset = spec.instance_type.partition("_")
        disk = ManagedDisk(name=f"{instance_name(spec)}-boot", spec=DiskSpec(
            size_gibibytes=self.boot_disk_gib, type=DiskSpec.DiskType.NETWORK_SSD,
            source_image_family=SourceImageFamily(image_family=self.image_family)))
        body = InstanceSpec(
            resources=ResourcesSpec(platform=platform, preset=preset),
            boot_disk=AttachedDiskSpec(attach_mode=AttachedDiskSpec.AttachMode.READ_WRITE, managed_disk=disk),
            network_interfaces=[NetworkInterfaceSpec(subnet_id=self._subnet(project), name="eth0",
                                                     ip_address=IPAddress(), public_ip_address=PublicIPAddress())],
            cloud_init_user_data=with_ssh_key(spec.user_data, spec.ssh_public_key))
        if spec.spot:
            body.preemptible = PreemptibleSpec(on_preemption=PreemptibleSpec.PreemptionPolicy.STOP)
        return body

    def _node(self, instance: Any) -> NodeInfo:
        resources = instance.spec.resources
        public = [nic.public_ip_address.address for nic in instance.status.network_interfaces
                  if nic.public_ip_address.address]
        spot = bool(instance.spec.check_presence("preemptible"))
        state = _STATE_BY_NAME.get(instance.status.state.name, "pending")
        preempted = spot and instance.status.state.name in ("STOPPING", "STOPPED")
        ended = instance.metadata.updated_at if preempted else None
        return NodeInfo(
            ref=instance.metadata.id, state="preempted" if preempted else state,
            region=self._region_of(instance.metadata.parent_id), instance_type=f"{resources.platform}_{resources.preset}",
            ip=public[0].split("/")[0] if public else None, tags=tags_of(dict(instance.metadata.labels)),
            spot=spot, ended_at=ended.astimezone(UTC).isoformat().replace("+00:00", "Z") if ended else None,
        )
