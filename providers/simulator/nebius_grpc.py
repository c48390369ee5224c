"""A Nebius AI Cloud-shaped gRPC API, answered in the API's own protobuf types (the `nebius` SDK's messages,
generated from github.com/nebius/api) and its status codes, on a port of its own.

Services: `nebius.iam.v2.ProjectService/List` (a tenant's projects, one per region the partner sells in),
`nebius.compute.v1.PlatformService/List` (platforms with their presets), `nebius.billing.v1.CalculatorService/
EstimateBatch` (the hourly price of a create request), `nebius.capacity.v1.ResourceAdviceService/List` (instances
of each preset that can start now, on demand and preemptible: the offer's free capacity), the VPC's subnets and
security groups (nebius_vpc), the IAM token exchange for service accounts (nebius_iam) and
`nebius.compute.v1.InstanceService/{Get,GetByName,List,Create,Delete}`. Auth is the `authorization: Bearer <IAM
token>` metadata. Errors carry `nebius.common.v1.ServiceError` details in `grpc-status-details-bin`, as Nebius sends
them: capacity and quota are both RESOURCE_EXHAUSTED, told apart by `not_enough_resources` or `quota_failure`.

The partner is found from the ids: tenant `tenant-<slug>`, projects `project-<region>-<slug>`, instances
`computeinstance-<node id>`. A seeded offer named `<platform>_<preset>` (the catalogue's spelling) is one
preset of that platform. A deleted instance is forgotten (NOT_FOUND), as on Nebius; a preempted one (a
preemptible instance's `on_preemption: STOP`) stays, STOPPED, its `updated_at` the preemption's second, until
it is deleted. The inbound ports an instance has open are those its network interface's security groups allow.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent import futures
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import grpc
from nebius.api.nebius.billing.v1 import (
    AggregationUnit,
    CostBreakdown,
    EstimateBatchRequest,
    EstimateBatchResponse,
    GeneralResourceCost,
    TotalCost,
)
from nebius.api.nebius.capacity.v1 import (
    ComputeInstanceDetails,
    ListResourceAdviceRequest,
    ListResourceAdviceResponse,
    ResourceAdvice,
    ResourceAdviceSpec,
    ResourceAdviceStatus,
)
from nebius.api.nebius.common.v1 import (
    GetByNameRequest,
    NotEnoughResources,
    Operation,
    QuotaFailure,
    ResourceMetadata,
    ServiceError,
    TooManyRequests,
)
from nebius.api.nebius.compute.v1 import (
    CreateInstanceRequest,
    DeleteInstanceRequest,
    GetInstanceRequest,
    Instance,
    InstanceServiceClient,
    InstanceSpec,
    InstanceStatus,
    IPAddressStatus,
    ListInstancesRequest,
    ListInstancesResponse,
    ListPlatformsRequest,
    ListPlatformsResponse,
    NetworkInterfaceSpec,
    NetworkInterfaceStatus,
    Platform,
    PlatformSpec,
    PlatformStatus,
    PreemptibleSpec,
    Preset,
    PresetResources,
    PublicIPAddressStatus,
    ResourcesSpec,
    SecurityGroup,
    SecurityGroupStatus,
)
from nebius.api.nebius.iam.v1 import CreateAuthPublicKeyRequest, CreateTokenResponse, ExchangeTokenRequest
from nebius.api.nebius.iam.v2 import ListProjectsRequest, ListProjectsResponse, Project, ProjectSpec, ProjectStatus
from nebius.api.nebius.vpc.v1 import (
    CreateSecurityGroupRequest,
    CreateSecurityRuleRequest,
    GetSecurityGroupByNameRequest,
    ListSecurityRulesRequest,
    ListSecurityRulesResponse,
    ListSubnetsRequest,
    ListSubnetsResponse,
)
from nebius.api.nebius.vpc.v1 import SecurityGroup as VpcSecurityGroup

from .nebius_iam import NebiusIam
from .nebius_status import Abort, bad_request, missing
from .nebius_vpc import GROUP_PREFIX, NebiusVpc
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

INSTANCE_PREFIX = "computeinstance-"
REGISTRY = InstanceServiceClient.__registry__
CODE_BY_KIND = {"invalid_request": grpc.StatusCode.INVALID_ARGUMENT, "auth_failed": grpc.StatusCode.UNAUTHENTICATED,
                "not_found": grpc.StatusCode.NOT_FOUND, "no_capacity": grpc.StatusCode.RESOURCE_EXHAUSTED,
                "quota_exceeded": grpc.StatusCode.RESOURCE_EXHAUSTED}
STATE_BY_NODE = {"pending": InstanceStatus.InstanceState.STARTING, "running": InstanceStatus.InstanceState.RUNNING,
                 "failed": InstanceStatus.InstanceState.ERROR}
_SHAPE = re.compile(r"^(?P<platform>[a-z0-9-]+)_(?P<preset>\d+gpu-\d+vcpu-\d+gb)$")


def tenant_id(slug: str) -> str:
    return f"tenant-{slug}"


def project_id(slug: str, region: str) -> str:
    return f"project-{region}-{slug}"


def url_beside(simulator_url: str) -> str:
    """The Nebius API's address beside the HTTP simulator at `simulator_url`: the next port up."""
    scheme, _, rest = simulator_url.rstrip("/").partition("://")
    host, _, port = rest.rpartition(":")
    return f"{scheme}://{host}:{int(port) + 1}"


def split_shape(instance_type: str) -> tuple[str, str] | None:
    """(platform, preset) of a catalogue instance type such as `gpu-h100-sxm_8gpu-128vcpu-1600gb`."""
    match = _SHAPE.match(instance_type)
    return (match["platform"], match["preset"]) if match else None


class NebiusApi:
    """The handlers; each resolves the partner, checks the bearer token and applies the partner's faults."""

    def __init__(self, app: SimulatorApp):
        self.app, self.store = app, app.store
        self._deleted: set[str] = set()  # preempted instances deleted since: the store keeps them as preempted
        self.lock = threading.Lock()
        self.vpc, self.iam = NebiusVpc(self), NebiusIam(self)

    # -- partner, auth, faults ---------------------------------------------------------------------
    def _projects(self) -> dict[str, tuple[str, str]]:
        """project id → (slug, region), for every region a partner sells a Nebius-named shape in."""
        return {project_id(slug, offer["region"]): (slug, offer["region"])
                for slug in self.store.partner_slugs() for offer in self.store.offers(slug)
                if split_shape(offer["instance_type"])}

    def project(self, parent: str) -> tuple[str, str]:
        """(slug, region) of a project id."""
        found = self._projects().get(parent)
        if found is None:
            raise missing(parent, "project")
        return found

    def enter(self, slug: str, context: grpc.ServicerContext) -> None:
        """The call is the partner's: its bearer token is the partner's IAM token; then the partner's faults apply."""
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization", "") != f"Bearer {self.store.token(slug)}":
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid IAM token")
        self.faults(slug)

    def any_partner(self, context: grpc.ServicerContext) -> None:
        """UNAUTHENTICATED unless the bearer token is some partner's (an unknown id is NOT_FOUND only then)."""
        bearer = dict(context.invocation_metadata()).get("authorization", "")
        if not any(bearer == f"Bearer {self.store.token(slug)}" for slug in self.store.partner_slugs()):
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid IAM token")

    def faults(self, slug: str) -> None:
        """The partner's injected latency, server errors and rate limit."""
        faults = self.store.faults(slug)
        if faults.latency_ms:
            self.app.sleep(faults.latency_ms / 1000)
        if self.store.take_error_next(slug) or self.app.chance(faults.error_rate):
            raise Abort(grpc.StatusCode.UNAVAILABLE, "simulated server error")
        if self.app.rate_limiter.wait_s(slug, "requests", faults.request_interval_s):
            raise Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many requests",
                        ServiceError(service="compute", code="TooManyRequests",
                                     too_many_requests=TooManyRequests(violation="requests per second")))

    def _node_partner(self, instance_id: str, context: grpc.ServicerContext) -> tuple[str, dict]:
        """(slug, node) of an instance id; an unknown id is NOT_FOUND once the token is a partner's."""
        node_id = instance_id.removeprefix(INSTANCE_PREFIX)
        for slug in self.store.partner_slugs():
            try:
                node = self.store.get_node(slug, node_id)
            except SimError:
                continue
            self.enter(slug, context)
            return slug, node
        self.any_partner(context)
        raise missing(instance_id, "instance")

    # -- iam, compute platforms, billing --------------------------------------------------------------
    def list_projects(self, request: ListProjectsRequest, context) -> ListProjectsResponse:
        slug = request.parent_id.removeprefix("tenant-")
        if request.parent_id != tenant_id(slug) or slug not in self.store.partner_slugs():
            raise missing(request.parent_id, "tenant", "iam")
        self.enter(slug, context)
        items = [Project(metadata=ResourceMetadata(id=project, parent_id=request.parent_id,
                                                   name=f"default-project-{region}"),
                         spec=ProjectSpec(region=region),
                         status=ProjectStatus(project_state=ProjectStatus.ProjectState.ACTIVE))
                 for project, (owner, region) in sorted(self._projects().items()) if owner == slug]
        return ListProjectsResponse(items=items)

    def list_platforms(self, request: ListPlatformsRequest, context) -> ListPlatformsResponse:
        slug, region = self.project(request.parent_id)
        self.enter(slug, context)
        presets: dict[str, list[Preset]] = {}
        spot: dict[str, bool] = {}
        for offer in self.store.offers(slug):
            shape = split_shape(offer["instance_type"])
            if offer["region"] != region or shape is None:
                continue
            platform, preset = shape
            presets.setdefault(platform, []).append(Preset(name=preset, resources=PresetResources(
                vcpu_count=int(offer["vcpus"]), memory_gibibytes=int(offer["memory_gb"]),
                gpu_count=int(offer["gpus_per_node"]))))
            spot[platform] = spot.get(platform, False) or offer["spot_price_per_hour"] is not None
        items = [Platform(metadata=ResourceMetadata(id=f"computeplatform-{name}", name=name,
                                                    parent_id=request.parent_id),
                          spec=PlatformSpec(presets=found, human_readable_name=name.upper()),
                          status=PlatformStatus(allowed_for_preemptibles=spot[name]))
                 for name, found in sorted(presets.items())]
        return ListPlatformsResponse(items=items)

    def estimate(self, request: EstimateBatchRequest, context) -> EstimateBatchResponse:
        total = Decimal(0)
        for resource in request.resource_specs:
            create = REGISTRY.unpack_any(resource.spec)
            if not isinstance(create, CreateInstanceRequest):
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "spec must be a nebius.compute.v1.CreateInstanceRequest",
                            bad_request("resource_specs.spec", "unsupported resource type"))
            slug, region = self.project(create.metadata.parent_id)
            self.enter(slug, context)
            offer = self._offer(slug, region, create.spec.resources)
            price = offer["spot_price_per_hour"] if create.spec.check_presence("preemptible") else offer["price_per_hour"]
            if price is None:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "platform is not allowed for preemptibles",
                            bad_request("spec.preemptible", "not allowed for this platform"))
            total += Decimal(str(price))
        cost = GeneralResourceCost(total=CostBreakdown(cost=str(total), cost_rounded=f"{total:.2f}"))
        return EstimateBatchResponse(currency="USD", total_costs=[
            TotalCost(aggregation_unit=AggregationUnit(unit="hour", unit_type=AggregationUnit.UnitType.UNIT_TYPE_TIME_BASED),
                      general=cost)])

    def list_advice(self, request: ListResourceAdviceRequest, context) -> ListResourceAdviceResponse:
        slug = request.parent_id.removeprefix("tenant-")
        if request.parent_id != tenant_id(slug) or slug not in self.store.partner_slugs():
            raise missing(request.parent_id, "tenant", "iam")
        self.enter(slug, context)
        items = []
        for offer in self.store.offers(slug):
            shape = split_shape(offer["instance_type"])
            if shape is None:
                continue
            free = _availability(offer["available_nodes"])
            status = ResourceAdviceStatus(on_demand=free, preemptible=free if offer["spot_price_per_hour"] else None)
            items.append(ResourceAdvice(
                spec=ResourceAdviceSpec(region=offer["region"], fabric=f"fabric-{offer['region']}",
                                        compute_instance=ComputeInstanceDetails(
                                            platform=shape[0], preset=ComputeInstanceDetails.Preset(name=shape[1]))),
                status=status))
        return ListResourceAdviceResponse(items=items)

    # -- instances ---------------------------------------------------------------------------------
    def get(self, request: GetInstanceRequest, context) -> Instance:
        slug, node = self._node_partner(request.id, context)
        return self._live(slug, node, request.id)

    def get_by_name(self, request: GetByNameRequest, context) -> Instance:
        slug, region = self.project(request.parent_id)
        self.enter(slug, context)
        node = self._named(slug, region, request.name)
        if node is None:
            raise missing(request.name, "instance")
        return _instance(node, request.parent_id)

    def list(self, request: ListInstancesRequest, context) -> ListInstancesResponse:
        slug, region = self.project(request.parent_id)
        self.enter(slug, context)
        return ListInstancesResponse(items=[_instance(n, request.parent_id) for n in self.store.list_nodes(slug)
                                            if n["region"] == region])

    def create(self, request: CreateInstanceRequest, context) -> Operation:
        slug, region = self.project(request.metadata.parent_id)
        self.enter(slug, context)
        name = request.metadata.name
        if not name:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "metadata.name is required",
                        bad_request("metadata.name", "required"))
        if self._named(slug, region, name) is not None:
            raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"instance {name} already exists")
        resources = request.spec.resources
        spot = request.spec.check_presence("preemptible")
        groups = [group.id for nic in request.spec.network_interfaces[:1] for group in nic.security_groups]
        ports = self.vpc.open_ports(slug, request.metadata.parent_id, groups)
        try:
            node, _ = self.store.create_node(
                slug, instance_type=f"{resources.platform}_{resources.preset}", region=region, name=name,
                tags=dict(request.metadata.labels), user_data=request.spec.cloud_init_user_data, spot=spot,
                ports=ports, firewall_rulesets=[g.removeprefix(GROUP_PREFIX) for g in groups],
                loopback=self.app.run_user_data,
                capacity_error=self.app.chance(self.store.faults(slug).capacity_error_rate))
        except SimError as exc:
            raise _abort_of(exc) from None
        node = self.app.node_started(slug, node, request.spec.cloud_init_user_data)
        instance_id = INSTANCE_PREFIX + node["id"]
        return Operation(id=f"computeoperation-{node['id']}", description="Create instance", resource_id=instance_id,
                         created_by="simulated-service-account")

    def delete(self, request: DeleteInstanceRequest, context) -> Operation:
        slug, node = self._node_partner(request.id, context)
        self._live(slug, node, request.id)
        self.store.terminate_node(slug, node["id"])
        with self.lock:
            self._deleted.add(node["id"])
        self.app.node_stopped(node["id"])
        return Operation(id=f"computeoperation-delete-{node['id']}", description="Delete instance",
                         resource_id=request.id)

    # -- helpers -----------------------------------------------------------------------------------
    def _live(self, slug: str, node: dict, instance_id: str) -> Instance:
        with self.lock:
            deleted = node["id"] in self._deleted
        if deleted or (node["state"] == "terminated" and node["preempted_at"] is None):
            raise missing(instance_id, "instance")
        return _instance(node, project_id(slug, node["region"]))

    def _named(self, slug: str, region: str, name: str) -> dict | None:
        return next((n for n in self.store.list_nodes(slug) if n["name"] == name and n["region"] == region), None)

    def _offer(self, slug: str, region: str, resources: ResourcesSpec) -> dict:
        wanted = f"{resources.platform}_{resources.preset}"
        offer = next((o for o in self.store.offers(slug) if o["instance_type"] == wanted and o["region"] == region),
                     None)
        if offer is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"no preset {resources.preset!r} of {resources.platform!r}",
                        bad_request("spec.resources", "unknown platform or preset"))
        return offer


def _instance(node: dict, parent: str) -> Instance:
    platform, _, preset = node["instance_type"].partition("_")
    groups = [GROUP_PREFIX + ruleset for ruleset in node["firewall_rulesets"]]
    spec = InstanceSpec(resources=ResourcesSpec(platform=platform, preset=preset),
                        network_interfaces=[NetworkInterfaceSpec(
                            subnet_id=f"vpcsubnet-{parent}", name="eth0",
                            security_groups=[SecurityGroup(id=group) for group in groups])],
                        cloud_init_user_data=node["user_data"])
    if node["spot"]:
        spec.preemptible = PreemptibleSpec(on_preemption=PreemptibleSpec.PreemptionPolicy.STOP)
    state = STATE_BY_NODE.get(node["state"], InstanceStatus.InstanceState.DELETING)
    if node["preempted_at"] is not None:
        state = InstanceStatus.InstanceState.STOPPED
    status = InstanceStatus(state=state,
                            network_interfaces=[NetworkInterfaceStatus(
                                index=0, name="eth0", ip_address=IPAddressStatus(address="192.168.0.2/32"),
                                public_ip_address=PublicIPAddressStatus(address=f"{node['ip']}/32"),
                                security_groups=[SecurityGroupStatus(id=group) for group in groups])])
    changed = node["preempted_at"] or node["created_at"]
    return Instance(metadata=ResourceMetadata(id=INSTANCE_PREFIX + node["id"], parent_id=parent, name=node["name"],
                                              labels=node["tags"], created_at=_time(node["created_at"]),
                                              updated_at=_time(changed)), spec=spec, status=status)


def _time(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _availability(free: int) -> ResourceAdviceStatus.Availability:
    levels = ResourceAdviceStatus.Availability.AvailabilityLevel
    return ResourceAdviceStatus.Availability(
        data_state=ResourceAdviceStatus.Availability.DataState.DATA_STATE_FRESH, available=free,
        availability_level=levels.AVAILABILITY_LEVEL_HIGH if free > 1 else levels.AVAILABILITY_LEVEL_LOW if free
        else levels.AVAILABILITY_LEVEL_LIMIT_REACHED)


def _abort_of(exc: SimError) -> Abort:
    detail = None
    if exc.kind == "no_capacity":
        detail = ServiceError(service="compute", code="NotEnoughResources", not_enough_resources=NotEnoughResources(
            violations=[NotEnoughResources.Violation(resource_type="compute.instance", requested="1",
                                                   message=exc.message)]))
    elif exc.kind == "quota_exceeded":
        detail = ServiceError(service="compute", code="QuotaFailure", quota_failure=QuotaFailure(
            violations=[QuotaFailure.Violation(quota="compute.instance.count", message=exc.message, limit="0")]))
    elif exc.kind == "invalid_request":
        detail = bad_request("spec.resources", exc.message)
    return Abort(CODE_BY_KIND[exc.kind], exc.message, detail)


def _handler(call: Callable[[Any, grpc.ServicerContext], Any], request_type: type,
             response_type: type) -> grpc.RpcMethodHandler:
    def run(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            answer = call(request, context)
            if not isinstance(answer, response_type):
                raise TypeError(f"{call.__name__} answered {type(answer).__name__}, not {response_type.__name__}")
            return answer
        except Abort as abort:
            if abort.detail is not None:
                status = REGISTRY.message_class("google.rpc.Status")(code=abort.code.value[0], message=abort.message)
                status.details.append(REGISTRY.pack_any(abort.detail))
                context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(abort.code, abort.message)

    return grpc.unary_unary_rpc_method_handler(run, request_deserializer=request_type.FromString,
                                               response_serializer=lambda message: message.SerializeToString())


# (service, method, NebiusApi handler, request type, response type): what the simulator serves, in the API's types.
METHODS = [
    ("nebius.iam.v2.ProjectService", "List", "list_projects", ListProjectsRequest, ListProjectsResponse),
    ("nebius.compute.v1.PlatformService", "List", "list_platforms", ListPlatformsRequest, ListPlatformsResponse),
    ("nebius.billing.v1.CalculatorService", "EstimateBatch", "estimate", EstimateBatchRequest, EstimateBatchResponse),
    ("nebius.capacity.v1.ResourceAdviceService", "List", "list_advice", ListResourceAdviceRequest,
     ListResourceAdviceResponse),
    ("nebius.vpc.v1.SubnetService", "List", "vpc.list_subnets", ListSubnetsRequest, ListSubnetsResponse),
    ("nebius.vpc.v1.SecurityGroupService", "GetByName", "vpc.get_group_by_name", GetSecurityGroupByNameRequest,
     VpcSecurityGroup),
    ("nebius.vpc.v1.SecurityGroupService", "Create", "vpc.create_group", CreateSecurityGroupRequest, Operation),
    ("nebius.vpc.v1.SecurityRuleService", "List", "vpc.list_rules", ListSecurityRulesRequest,
     ListSecurityRulesResponse),
    ("nebius.vpc.v1.SecurityRuleService", "Create", "vpc.create_rule", CreateSecurityRuleRequest, Operation),
    ("nebius.iam.v1.AuthPublicKeyService", "Create", "iam.create_public_key", CreateAuthPublicKeyRequest, Operation),
    ("nebius.iam.v1.TokenExchangeService", "Exchange", "iam.exchange", ExchangeTokenRequest, CreateTokenResponse),
    ("nebius.compute.v1.InstanceService", "Get", "get", GetInstanceRequest, Instance),
    ("nebius.compute.v1.InstanceService", "GetByName", "get_by_name", GetByNameRequest, Instance),
    ("nebius.compute.v1.InstanceService", "List", "list", ListInstancesRequest, ListInstancesResponse),
    ("nebius.compute.v1.InstanceService", "Create", "create", CreateInstanceRequest, Operation),
    ("nebius.compute.v1.InstanceService", "Delete", "delete", DeleteInstanceRequest, Operation),
]


class NebiusGrpcServer:
    """The Nebius-shaped services on `host:port` (plaintext HTTP/2; the SDK's insecure channel option)."""

    def __init__(self, app: SimulatorApp, *, host: str = "127.0.0.1", port: int = 0):
        api = NebiusApi(app)
        services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for service, method, handler, request_type, response_type in METHODS:
            services.setdefault(service, {})[method] = _handler(attrgetter(handler)(api), request_type,
                                                                response_type)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(name, methods)
                                              for name, methods in services.items()])
        self.host, self.port = host, self.server.add_insecure_port(f"{host}:{port}")

    @property
    def url(self) -> str:
        """`http://` marks a plaintext endpoint for the adapter (Nebius itself is TLS on :443)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> NebiusGrpcServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)
