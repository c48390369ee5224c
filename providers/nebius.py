"""Adapter for Nebius AI Cloud, a client of its gRPC API through the official Python SDK.

Reference: the API's protobuf definitions, github.com/nebius/api (nebius/compute/v1/instance_service.proto,
platform_service.proto, nebius/iam/v2/project_service.proto, nebius/iam/v1/token_exchange_service.proto,
nebius/capacity/v1/resource_advice_service.proto, nebius/vpc/v1/subnet_service.proto, security_group_service.proto,
security_rule_service.proto, nebius/billing/v1/calculator_service.proto, nebius/common/v1/error.proto,
operation.proto), and the SDK generated from them,
the `nebius` package (github.com/nebius/pysdk, docs: https://nebius.github.io/pysdk/). Auth is an IAM token
sent as `authorization: Bearer`; every call carries a deadline, fails fast when the endpoint refuses the
connection, and makes no SDK retry of its own (the adapter retries transient codes with backoff).

The IAM token is given (`iam_token`) or, in production, exchanged for a service account's authorized key
(`service_account_id`, `public_key_id`, `private_key`: docs.nebius.com/iam/service-accounts/authorized-keys): the
SDK's `ServiceAccount` signs the RS256 JWT and `nebius.iam.v1.TokenExchangeService/Exchange` (RFC 8693) answers
the token, which is exchanged again when 90% of its lifetime has passed. The adapter makes the exchange itself
rather than through the SDK's renewing bearer, which retries a refused key in the background until the request's
authorization deadline: here a refused key fails the call at once, as auth_failed.

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
Ports open through VPC security groups (docs.nebius.com/vpc/security-groups/overview): a launch with ports gets one group on its project's network, named
after the rule set (`gpub-ports-<hash>`) and shared by every launch with the same ports, holding an ALLOW egress
rule for any traffic and, per source network, ALLOW ingress TCP rules for its ports (the API takes at most 8 ports a
rule); the group is made once, its missing rules added, its operations awaited, and it goes on the instance's network
interface in place of the network's default group (a group denies what no rule allows). A group outlives its
instances, as Nebius lets it: the broker's rule sets are few. A launch without ports keeps the default group. A port
outside 1-65535 or a source that is not an IPv4 network is refused before any call.
Errors are gRPC status codes with `ServiceError` details: RESOURCE_EXHAUSTED is quota (`quota_failure`),
capacity (`not_enough_resources`) or a rate limit (`too_many_requests`, transient). A deleted instance is
forgotten: describing it answers not_found.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc import StatusCode
from nebius.aio.channel import NoCredentials
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
from nebius.api.nebius.compute.v1 import SecurityGroup as InterfaceSecurityGroup
from nebius.api.nebius.iam.v1 import TokenExchangeServiceClient
from nebius.api.nebius.iam.v2 import ListProjectsRequest, ProjectServiceClient
from nebius.api.nebius.vpc.v1 import (
    CreateSecurityGroupRequest,
    CreateSecurityRuleRequest,
    GetSecurityGroupByNameRequest,
    ListSecurityRulesRequest,
    ListSubnetsRequest,
    RuleAccessAction,
    RuleEgress,
    RuleIngress,
    RuleProtocol,
    SecurityGroupServiceClient,
    SecurityGroupSpec,
    SecurityRuleServiceClient,
    SecurityRuleSpec,
    SubnetServiceClient,
)
from nebius.base.error import SDKError
from nebius.base.options import INSECURE
from nebius.base.resolver import Constant
from nebius.base.service_account.service_account import ServiceAccount
from nebius.sdk import SDK

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

NAME_PREFIX = "gpub-"
PORTS_GROUP_PREFIX = "gpub-ports-"
RULE_PORTS = 8  # the most destination ports one security rule takes
SERVICE_ACCOUNT_FIELDS = ("service_account_id", "public_key_id", "private_key")
RENEW_AT_LIFETIME = 0.9
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


def service_account_of(credentials: dict) -> ServiceAccount | None:
    """The authorized key `credentials` give, as the SDK's `ServiceAccount` (None: they give an IAM token instead).

    ValueError says what is wrong, never quoting a secret."""
    given = [name for name in SERVICE_ACCOUNT_FIELDS if credentials.get(name)]
    if credentials.get("iam_token"):
        if given:
            raise ValueError("give an iam_token or a service account's key, not both")
        return None
    if len(given) < len(SERVICE_ACCOUNT_FIELDS):
        missing = ", ".join(name for name in SERVICE_ACCOUNT_FIELDS if name not in given)
        raise ValueError(f"give an iam_token or a service account's key: {missing} missing" if given else
                         "give an iam_token or a service account's service_account_id, public_key_id and private_key")
    try:
        pem = str(credentials["private_key"]).replace("\\n", "\n")  # as a credentials.json escapes it, too
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("private_key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("private_key is not an RSA key (Nebius authorized keys sign RS256)")
    return ServiceAccount(key, str(credentials["public_key_id"]), str(credentials["service_account_id"]))


def port_problem(ports: tuple[PortRule, ...]) -> str | None:
    """Why the Nebius API would refuse these ports (None when it would not)."""
    for rule in ports:
        if isinstance(rule.port, bool) or not isinstance(rule.port, int) or not 1 <= rule.port <= 65535:
            return f"port {rule.port!r} is not a TCP port (1-65535)"
        try:
            ipaddress.IPv4Network(rule.source)
        except (ValueError, TypeError):
            return f"source {rule.source!r} of port {rule.port} is not an IPv4 network (CIDR)"
    return None


def ports_group_name(ports: tuple[PortRule, ...]) -> str:
    """`gpub-ports-<hash of the rule set>`: launches with the same ports share one group."""
    rules = sorted({(rule.port, rule.source) for rule in ports})
    return PORTS_GROUP_PREFIX + hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


def port_rules(ports: tuple[PortRule, ...]) -> list[tuple[str, Any]]:
    """(name, spec) of the group's security rules: any egress, and each source network's TCP ports, 8 a rule."""
    allow = RuleAccessAction.ALLOW
    rules = [("egress-any", SecurityRuleSpec(access=allow, protocol=RuleProtocol.ANY, egress=RuleEgress()))]
    by_source: dict[str, list[int]] = {}
    for port, source in sorted({(rule.port, rule.source) for rule in ports}):
        by_source.setdefault(source, []).append(port)
    for source, numbers in sorted(by_source.items()):
        for start in range(0, len(numbers), RULE_PORTS):
            rules.append((f"ingress-tcp-{len(rules)}", SecurityRuleSpec(
                access=allow, protocol=RuleProtocol.TCP,
                ingress=RuleIngress(source_cidrs=[source], destination_ports=numbers[start:start + RULE_PORTS]))))
    return rules


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


def _sdk(base_url: str) -> Any:
    """The SDK channel: Nebius's own endpoints by default; `http://host:port` is a plaintext endpoint,
    `https://host:port` (or `host:port`) a TLS one, every service at that one address. The channel sends no
    credentials of its own: each call carries the adapter's IAM token."""
    if not base_url:
        return SDK(credentials=NoCredentials(), user_agent_prefix=USER_AGENT)
    scheme, _, address = base_url.rpartition("://")
    options = [(INSECURE, True)] if scheme == "http" else None
    return SDK(credentials=NoCredentials(), user_agent_prefix=USER_AGENT, resolver=Constant(address.rstrip("/")),
               options=options)


class NebiusAdapter:
    kind = "nebius"

    def __init__(self, *, base_url: str = "", credentials: dict, image_family: str = "ubuntu22.04-cuda12",
                 boot_disk_gib: int = 200, timeout: float = 20.0, retries: int = 3, backoff: float = 0.5,
                 rate_limit_wait_s: float = 300.0, sleep: Callable[[float], None] = time.sleep):
        if boot_disk_gib < 1 or timeout <= 0 or retries < 0:
            raise ValueError("boot_disk_gib >= 1, timeout > 0 and retries >= 0 are required")
        self.base_url, self.tenant_id = base_url, str(credentials.get("tenant_id") or "")
        self._token, self._renew_at = str(credentials.get("iam_token") or ""), float("inf")
        try:
            self._service_account, self._credentials_problem = service_account_of(credentials), ""
        except ValueError as exc:
            self._service_account, self._credentials_problem = None, str(exc)
        self.image_family, self.boot_disk_gib = image_family, boot_disk_gib
        self.timeout, self.retries, self.backoff, self.sleep = timeout, retries, backoff, sleep
        self.clock: Callable[[], float] = time.monotonic  # when the exchanged IAM token is due for renewal
        self.rate_limit_wait_s = rate_limit_wait_s
        self._channel: Any = None
        self._project_by_region: dict[str, str] | None = None
        self._subnets: dict[str, tuple[str, str]] = {}  # project → (its first subnet, that subnet's network)
        self._groups: dict[tuple[str, str], str] = {}  # (project, group name) → security group id

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
        """InstanceService.Create, unless an instance with this spec's name exists already; its ports open
        through the rule set's security group."""

        if problem := port_problem(spec.ports):
            raise ProviderError(INVALID_REQUEST, problem)
        project = self._project(spec.region)
        name = instance_name(spec)
        existing = self._instance_named(project, name)
        if existing is not None:
            return self._node(existing)
        groups = [self._ports_group(project, spec.ports)] if spec.ports else []
        request = CreateInstanceRequest(metadata=self._metadata(project, name, spec),
                                        spec=self._spec(project, spec, groups))
        try:
            operation = self._call(InstanceServiceClient(self._sdk()).create, request)
        except ProviderError as exc:  # ALREADY_EXISTS: a concurrent or earlier create of this name won
            found = self._instance_named(project, name) if exc.kind == INVALID_REQUEST else None
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
        if self._channel is None:
            self._channel = _sdk(self.base_url)
        return self._channel

    def _bearer(self) -> str:
        """The IAM token: the given one, or the service account's, exchanged for its key when due."""
        if self._credentials_problem:
            raise ProviderError(AUTH_FAILED, self._credentials_problem)
        if self._service_account is not None and (not self._token or self.clock() >= self._renew_at):
            answer = self._call(TokenExchangeServiceClient(self._sdk()).exchange,
                                self._service_account.get_exchange_token_request(), authorized=False)
            self._token = answer.access_token
            self._renew_at = self.clock() + answer.expires_in * RENEW_AT_LIFETIME
        return self._token

    def _authorization(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self._bearer()}")]

    def _call(self, method: Callable[..., Any], request: Any, *, authorized: bool = True) -> Any:
        """One RPC with a deadline; transient codes are retried with backoff, the rest raise at once.

        A rate limit (TooManyRequests) was refused before anything happened: it is repeated a second later,
        without counting as a retry, for up to `rate_limit_wait_s` in all, so it slows a launch but never fails it.
        """
        metadata = self._authorization() if authorized else None
        attempt, waited = 0, 0.0
        while True:
            try:
                call = method(request, retries=1, timeout=self.timeout, metadata=metadata)
                call.wait_for_ready = False  # a refused connection is UNAVAILABLE now, not at the deadline
                return call.wait()
            except (RequestError, SDKError, OSError) as exc:
                kind, message, rate_limited = _failure(exc)
            if rate_limited and waited + 1.0 <= self.rate_limit_wait_s:
                waited += 1.0
                self.sleep(1.0)
                continue
            if kind != TRANSIENT or attempt >= self.retries:
                raise ProviderError(kind, message)
            self.sleep(self.backoff * 2 ** attempt)
            attempt += 1

    def _finished(self, operation: Any) -> Any:
        """The operation, once Nebius has completed it (a rule needs its group, an instance its groups)."""
        try:
            operation.sync_wait(timeout=self.timeout, metadata=self._authorization())
        except (RequestError, SDKError, OSError) as exc:
            kind, message, _ = _failure(exc)
            raise ProviderError(kind, message) from None
        return operation

    def _found(self, method: Callable[..., Any], request: Any) -> Any | None:
        """What a Get or GetByName answers; None when Nebius does not know it."""
        try:
            return self._call(method, request)
        except ProviderError as exc:
            if exc.kind == NOT_FOUND:
                return None
            raise

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

    def _subnet(self, project: str) -> tuple[str, str]:
        """(subnet, network) the project's instances join: its first subnet."""
        if project not in self._subnets:
            subnets = self._pages(SubnetServiceClient(self._sdk()).list, ListSubnetsRequest, parent_id=project)
            if not subnets:
                raise ProviderError(INVALID_REQUEST, f"project {project} has no subnet")
            self._subnets[project] = (subnets[0].metadata.id, subnets[0].spec.network_id)
        return self._subnets[project]

    def _instance_named(self, project: str, name: str) -> Any | None:
        return self._found(InstanceServiceClient(self._sdk()).get_by_name,
                           GetByNameRequest(parent_id=project, name=name))

    def _ports_group(self, project: str, ports: tuple[PortRule, ...]) -> str:
        """The id of the security group opening exactly `ports` on the project's network, found by its name or
        made, once it holds every one of its rules (a concurrent launch may add one first)."""
        name = ports_group_name(ports)
        if (project, name) not in self._groups:
            group_id = self._group_named(project, name)
            rules, present = SecurityRuleServiceClient(self._sdk()), self._rule_names(group_id)
            for rule_name, rule in port_rules(ports):
                if rule_name in present:
                    continue
                try:
                    self._finished(self._call(rules.create, CreateSecurityRuleRequest(
                        metadata=ResourceMetadata(parent_id=group_id, name=rule_name), spec=rule)))
                except ProviderError as exc:  # ALREADY_EXISTS
                    if exc.kind != INVALID_REQUEST or rule_name not in self._rule_names(group_id):
                        raise
            self._groups[(project, name)] = group_id
        return self._groups[(project, name)]

    def _group_named(self, project: str, name: str) -> str:
        """The id of the project's security group of this name, created on its network when there is none."""
        groups = SecurityGroupServiceClient(self._sdk())
        lookup = GetSecurityGroupByNameRequest(parent_id=project, name=name)
        if (group := self._found(groups.get_by_name, lookup)) is not None:
            return group.metadata.id
        create = CreateSecurityGroupRequest(metadata=ResourceMetadata(parent_id=project, name=name),
                                            spec=SecurityGroupSpec(network_id=self._subnet(project)[1]))
        try:
            return self._finished(self._call(groups.create, create)).resource_id
        except ProviderError as exc:  # ALREADY_EXISTS: another launch made it first
            group = self._found(groups.get_by_name, lookup) if exc.kind == INVALID_REQUEST else None
            if group is None:
                raise
            return group.metadata.id

    def _rule_names(self, group_id: str) -> set[str]:
        return {rule.metadata.name for rule in self._pages(SecurityRuleServiceClient(self._sdk()).list,
                                                           ListSecurityRulesRequest, parent_id=group_id)}

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

    def _spec(self, project: str, spec: ProvisionSpec, groups: list[str]) -> Any:

        platform, _, preset = spec.instance_type.partition("_")
        disk = ManagedDisk(name=f"{instance_name(spec)}-boot", spec=DiskSpec(
            size_gibibytes=self.boot_disk_gib, type=DiskSpec.DiskType.NETWORK_SSD,
            source_image_family=SourceImageFamily(image_family=self.image_family)))
        body = InstanceSpec(
            resources=ResourcesSpec(platform=platform, preset=preset),
            boot_disk=AttachedDiskSpec(attach_mode=AttachedDiskSpec.AttachMode.READ_WRITE, managed_disk=disk),
            network_interfaces=[NetworkInterfaceSpec(
                subnet_id=self._subnet(project)[0], name="eth0", ip_address=IPAddress(),
                public_ip_address=PublicIPAddress(), security_groups=[InterfaceSecurityGroup(id=g) for g in groups])],
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


def _failure(exc: Exception) -> tuple[str, str, bool]:
    """(ProviderError kind, message, whether it is a rate limit) of a failed call or operation."""
    if isinstance(exc, RequestError):
        status = exc.status
        details = [e.details.field for e in getattr(status, "service_errors", []) if e.details is not None]
        message = status.message or status.code.name
        return error_kind(status.code, details, message), message, "too_many_requests" in details
    return TRANSIENT, f"Nebius API unreachable: {exc}", False
