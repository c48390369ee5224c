"""The Nebius VPC services the simulator answers, in the API's own messages (github.com/nebius/api, nebius/vpc/v1):
`SubnetService/List` (each project's one subnet on its one network), `SecurityGroupService/{GetByName,Create}` and
`SecurityRuleService/{List,Create}`.

A security group belongs to a project's network and holds security rules, its child resources, each refused as the
API's request validation refuses it: at most 8 destination ports, each in 1-65535, at most 8 source (or destination)
CIDRs, each a valid IPv4 CIDR, priority 0-1000, an access and a protocol, ingress or egress. A group takes effect on
an instance's network interface (`spec.network_interfaces[].security_groups`); a group applies implicit deny, so the
inbound TCP ports an instance has open are those its groups' ALLOW ingress rules list, from their source CIDRs (no
CIDR: any address). Groups are kept as firewall rulesets of the partner (their region is the project). Operations
finish at once: the simulated resource exists when the answer comes.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import TYPE_CHECKING

import grpc
from nebius.api.nebius.common.v1 import Operation, ResourceMetadata
from nebius.api.nebius.vpc.v1 import (
    CreateSecurityGroupRequest,
    CreateSecurityRuleRequest,
    GetSecurityGroupByNameRequest,
    ListSecurityRulesRequest,
    ListSecurityRulesResponse,
    ListSubnetsRequest,
    ListSubnetsResponse,
    RuleAccessAction,
    RuleDirection,
    RuleEgress,
    RuleIngress,
    RuleProtocol,
    RuleType,
    SecurityGroup,
    SecurityGroupSpec,
    SecurityGroupStatus,
    SecurityRule,
    SecurityRuleSpec,
    SecurityRuleStatus,
    Subnet,
    SubnetSpec,
)

from .nebius_status import Abort, finished, invalid, missing
from .store import SimError

if TYPE_CHECKING:
    from .nebius_grpc import NebiusApi

GROUP_PREFIX, RULE_PREFIX = "vpcsecuritygroup-", "vpcsecurityrule-"
# The API's rule for every resource name (the protos' buf.validate expression on metadata.name).
NAME = re.compile(r"^[a-zA-Z0-9][-_./a-zA-Z0-9]{1,254}$")
NAME_RULE = "'name' must start with a letter or digit, allow '-', '_', '.', '/', and have a length between 2 and 255"
MAX_PORTS, MAX_CIDRS = 8, 8


def network_id(project: str) -> str:
    return f"vpcnetwork-{project}"


class NebiusVpc:
    """The VPC handlers; the partner is the project's (or the group's), its bearer token checked by `api`."""

    def __init__(self, api: NebiusApi):
        self.api, self.store = api, api.store

    def list_subnets(self, request: ListSubnetsRequest, context) -> ListSubnetsResponse:
        slug, _ = self.api.project(request.parent_id)
        self.api.enter(slug, context)
        return ListSubnetsResponse(items=[Subnet(
            metadata=ResourceMetadata(id=f"vpcsubnet-{request.parent_id}", name="default-subnet",
                                      parent_id=request.parent_id),
            spec=SubnetSpec(network_id=network_id(request.parent_id)))])

    # -- security groups -------------------------------------------------------------------------------
    def get_group_by_name(self, request: GetSecurityGroupByNameRequest, context) -> SecurityGroup:
        slug, _ = self.api.project(request.parent_id)
        self.api.enter(slug, context)
        found = self._named(slug, request.parent_id, request.name)
        if found is None:
            raise missing(request.name, "security group", "vpc")
        return _group(found)

    def create_group(self, request: CreateSecurityGroupRequest, context) -> Operation:
        project = request.metadata.parent_id
        slug, _ = self.api.project(project)
        self.api.enter(slug, context)
        if not NAME.fullmatch(request.metadata.name):
            raise invalid("metadata.name", NAME_RULE, "vpc")
        if request.spec.network_id != network_id(project):
            raise missing(request.spec.network_id or "(none)", "network", "vpc")
        with self.api.lock:
            if self._named(slug, project, request.metadata.name) is not None:
                raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"security group {request.metadata.name} already exists")
            ruleset = self.store.add_firewall_ruleset(slug, request.metadata.name, project, [])
        return finished(f"vpcoperation-{ruleset['id']}", "Create security group", GROUP_PREFIX + ruleset["id"],
                        self.store.clock())

    # -- security rules --------------------------------------------------------------------------------
    def list_rules(self, request: ListSecurityRulesRequest, context) -> ListSecurityRulesResponse:
        _, ruleset = self._group(request.parent_id, context)
        return ListSecurityRulesResponse(items=[_rule(r, request.parent_id) for r in ruleset["rules"]])

    def create_rule(self, request: CreateSecurityRuleRequest, context) -> Operation:
        slug, ruleset = self._group(request.metadata.parent_id, context)
        rule = _checked_rule(request)
        try:
            self.store.add_firewall_rule(slug, ruleset["id"], rule)
        except SimError:
            raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"security rule {rule['name']} already exists") from None
        return finished(f"vpcoperation-{rule['id']}", "Create security rule", rule["id"], self.store.clock())

    # -- what compute asks ------------------------------------------------------------------------------
    def open_ports(self, slug: str, project: str, group_ids: list[str]) -> list[dict]:
        """The inbound TCP ports (with their source networks) the groups on an interface open; an unknown group,
        or one of another project, is refused as the create request's error."""
        ports = []
        for index, group_id in enumerate(group_ids):
            ruleset = self._ruleset(slug, group_id)
            if ruleset is None:
                raise missing(group_id, "security group", "vpc")
            if ruleset["region"] != project:
                raise invalid(f"spec.network_interfaces[0].security_groups[{index}]",
                              f"security group {group_id} is not in project {project}")
            ports += [{"port": port, "source": cidr} for rule in ruleset["rules"] if _opens_tcp_inbound(rule)
                      for cidr in rule["cidrs"] or ["0.0.0.0/0"] for port in rule["ports"]]
        return ports

    # -- helpers ----------------------------------------------------------------------------------------
    def _named(self, slug: str, project: str, name: str) -> dict | None:
        return next((r for r in self.store.firewall_rulesets(slug) if r["region"] == project and r["name"] == name),
                    None)

    def _ruleset(self, slug: str, group_id: str) -> dict | None:
        if not group_id.startswith(GROUP_PREFIX):
            return None
        try:
            return self.store.firewall_ruleset(slug, group_id.removeprefix(GROUP_PREFIX))
        except SimError:
            return None

    def _group(self, group_id: str, context) -> tuple[str, dict]:
        """(slug, ruleset) of a security group id, once the bearer is that partner's."""
        for slug in self.store.partner_slugs():
            ruleset = self._ruleset(slug, group_id)
            if ruleset is not None:
                self.api.enter(slug, context)
                return slug, ruleset
        self.api.any_partner(context)
        raise missing(group_id, "security group", "vpc")


def _group(ruleset: dict) -> SecurityGroup:
    project = ruleset["region"]
    return SecurityGroup(
        metadata=ResourceMetadata(id=GROUP_PREFIX + ruleset["id"], parent_id=project, name=ruleset["name"]),
        spec=SecurityGroupSpec(network_id=network_id(project)),
        status=SecurityGroupStatus(state=SecurityGroupStatus.State.READY, default=False))


def _checked_rule(request: CreateSecurityRuleRequest) -> dict:
    """The stored rule of a create request, or INVALID_ARGUMENT naming the first field the API's validation refuses."""
    name, spec = request.metadata.name, request.spec
    if not NAME.fullmatch(name):
        raise invalid("metadata.name", NAME_RULE, "vpc")
    if spec.access == RuleAccessAction.ACCESS_UNSPECIFIED:
        raise invalid("spec.access", "value is required", "vpc")
    if spec.protocol == RuleProtocol.PROTOCOL_UNSPECIFIED:
        raise invalid("spec.protocol", "value is required", "vpc")
    if not 0 <= spec.priority <= 1000:
        raise invalid("spec.priority", "value must be in 0-1000", "vpc")
    if spec.match_ is None:
        raise invalid("spec.match", "ingress or egress is required", "vpc")
    side = spec.match_.field
    body = spec.ingress if side == "ingress" else spec.egress
    cidr_field = "source_cidrs" if side == "ingress" else "destination_cidrs"
    ports, cidrs = list(body.destination_ports), list(getattr(body, cidr_field))
    if len(ports) > MAX_PORTS:
        raise invalid(f"spec.{side}.destination_ports", f"at most {MAX_PORTS} ports", "vpc")
    for index, port in enumerate(ports):
        if not 1 <= port <= 65535:
            raise invalid(f"spec.{side}.destination_ports[{index}]", "value must be in 1-65535", "vpc")
    if len(cidrs) > MAX_CIDRS:
        raise invalid(f"spec.{side}.{cidr_field}", f"at most {MAX_CIDRS} CIDRs", "vpc")
    for index, cidr in enumerate(cidrs):
        try:
            ipaddress.IPv4Network(cidr)
        except ValueError:
            raise invalid(f"spec.{side}.{cidr_field}[{index}]", "value must be a valid IPv4 CIDR", "vpc") from None
    rule_type = spec.type if spec.type != RuleType.RULE_TYPE_UNSPECIFIED else RuleType.STATEFUL
    return {"id": RULE_PREFIX + uuid.uuid4().hex, "name": name, "direction": side.upper(), "access": spec.access.name, "protocol": spec.protocol.name,
            "type": rule_type.name, "priority": spec.priority or 500, "ports": ports, "cidrs": cidrs}


def _opens_tcp_inbound(rule: dict) -> bool:
    return rule["direction"] == "INGRESS" and rule["access"] == "ALLOW" and rule["protocol"] in ("TCP", "ANY")


def _rule(rule: dict, group_id: str) -> SecurityRule:
    ingress = rule["direction"] == "INGRESS"
    match = ({"ingress": RuleIngress(source_cidrs=rule["cidrs"], destination_ports=rule["ports"])} if ingress else
             {"egress": RuleEgress(destination_cidrs=rule["cidrs"], destination_ports=rule["ports"])})
    return SecurityRule(
        metadata=ResourceMetadata(id=rule["id"], parent_id=group_id, name=rule["name"]),
        spec=SecurityRuleSpec(access=RuleAccessAction[rule["access"]], protocol=RuleProtocol[rule["protocol"]],
                              priority=rule["priority"], type=RuleType[rule["type"]], **match),
        status=SecurityRuleStatus(state=SecurityRuleStatus.State.READY, effective_priority=rule["priority"],
                                  direction=RuleDirection[rule["direction"]]))
