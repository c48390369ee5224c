"""Adapter for AWS EC2 through boto3.

Idempotency: `run_instances` carries `ClientToken` = the idempotency key (hashed when longer than
EC2's 64 characters), and the adapter first looks for a live instance tagged with that key, so a
retry returns the same instance even on endpoints that ignore client tokens. Node refs are
`<region>/<instance id>` because an instance id alone does not say which regional endpoint to ask.

Real accounts: the subnets (one per availability zone, tried in turn when a zone does not offer
the type or has no capacity) and security groups come from the partner's settings per region, else
the default VPC; the ports a launch needs are opened by a security group the adapter creates once
per VPC and rule set. Spot launches are one-time spot requests that terminate on interruption.
EC2 is eventually consistent: an instance may be "not found" for a while right after its launch,
so describe and terminate retry that answer for a bounded window before believing it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from .aws_catalog import EC2_GPU_TYPES
from .base import (
    AUTH_FAILED,
    INVALID_REQUEST,
    NO_CAPACITY,
    NOT_FOUND,
    QUOTA_EXCEEDED,
    RENTAL_TAG,
    TRANSIENT,
    NodeInfo,
    PortRule,
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
    already_gone_is_terminated,
)

KEY_TAG = "gpu-broker:idempotency-key"
DLAMI_NAME = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_STATE = {"pending": "pending", "running": "running", "stopping": "stopped", "stopped": "stopped",
          "shutting-down": "terminated", "terminated": "terminated"}
# StateReason.Code of a spot instance EC2 interrupted (terminate or stop behaviour alike).
SPOT_INTERRUPTION = "Server.SpotInstanceTermination"
# Capacity and quota codes as EC2 documents them (and as dstack / SkyPilot meet them in the wild).
_KIND_BY_CODE = {
    **dict.fromkeys(["InsufficientInstanceCapacity", "InsufficientCapacity", "UnfulfillableCapacity",
                     "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity", "InsufficientCapacityOnHost",
                     "InsufficientFreeAddressesInSubnet", "SpotMaxPriceTooLow", "Unsupported"], NO_CAPACITY),
    **dict.fromkeys(["VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded",
                     "ResourceLimitExceeded", "SecurityGroupLimitExceeded", "RulesPerSecurityGroupLimitExceeded",
                     "PendingVerification"], QUOTA_EXCEEDED),
    **dict.fromkeys(["AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
                     "OptInRequired", "Blocked", "AccessDenied"], AUTH_FAILED),
    **dict.fromkeys(["RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError",
                     "InternalFailure", "ServiceUnavailable", "Unavailable"], TRANSIENT),
    "IdempotentParameterMismatch": INVALID_REQUEST,
}
# Errors that are about one availability zone: the next zone may work.
_NEXT_ZONE_CODES = frozenset({"Unsupported", "InsufficientInstanceCapacity", "InsufficientCapacity",
                              "UnfulfillableCapacity", "InsufficientHostCapacity", "InsufficientFreeAddressesInSubnet"})
INSTANCE_NOT_FOUND = "InvalidInstanceID.NotFound"
SPOT_OPTIONS = {"MarketType": "spot",
                "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def map_client_error(exc: botocore.exceptions.ClientError) -> ProviderError:
    """The ProviderError for an EC2 error code (InvalidInstanceID.NotFound → not_found, …)."""
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or code
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    kind = _KIND_BY_CODE.get(code)
    if kind is None:
        if code.endswith(".NotFound"):
            kind = NOT_FOUND if code.startswith("InvalidInstanceID") else INVALID_REQUEST
        else:
            kind = TRANSIENT if status >= 500 else INVALID_REQUEST
    return ProviderError(kind, f"{code}: {message}")


def map_botocore_error(exc: Exception) -> ProviderError:
    """The ProviderError for anything botocore raises: no botocore exception crosses the adapter boundary."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return map_client_error(exc)
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return ProviderError(AUTH_FAILED, "no AWS credentials")
    if isinstance(exc, botocore.exceptions.ParamValidationError | botocore.exceptions.NoRegionError):
        return ProviderError(INVALID_REQUEST, f"{type(exc).__name__}: {exc}")
    return ProviderError(TRANSIENT, f"{type(exc).__name__}: {exc}")  # connection, timeout, endpoint, parsing


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise map_botocore_error(exc) from exc


def client_token(key: str) -> str:
    return key if len(key) <= 64 and key.isascii() else hashlib.sha256(key.encode()).hexdigest()


class AwsAdapter:
    kind = "aws"

    def __init__(self, *, base_url: str = "", credentials: dict, regions: Iterable[str] = ("us-east-1",),
                 endpoint_url: str | None = None, ami: str | dict[str, str] | None = None,
                 ami_name: str = DLAMI_NAME, ami_owner: str = "amazon", max_attempts: int = 4,
                 timeout: float = 10.0, subnets: dict[str, str | list[str]] | None = None,
                 security_groups: dict[str, str | list[str]] | None = None, public_ip: bool = True,
                 consistency_window_s: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.regions = list(regions)
        self.endpoint_url = endpoint_url or base_url or None
        self.credentials = {k: credentials[k] for k in ("aws_access_key_id", "aws_secret_access_key",
                                                         "aws_session_token") if credentials.get(k)}
        self.ami, self.ami_name, self.ami_owner = ami, ami_name, ami_owner
        self.subnets = {region: _as_list(ids) for region, ids in (subnets or {}).items()}
        self.security_groups = {region: _as_list(ids) for region, ids in (security_groups or {}).items()}
        self.public_ip = public_ip
        self.consistency_window_s, self.sleep = consistency_window_s, sleep
        # Standard mode retries throttling, 5xx and connection errors; RunInstances is safe to retry
        # because every call carries a ClientToken.
        self.config = Config(retries={"mode": "standard", "max_attempts": max_attempts},
                             connect_timeout=timeout, read_timeout=timeout)
        self._clients: dict[str, Any] = {}
        self._found_amis: dict[str, str] = {}

    def client(self, region: str) -> Any:
        """The EC2 client for one region (the place tests attach botocore event hooks)."""
        if region not in self._clients:
            try:
                self._clients[region] = boto3.session.Session().client(
                    "ec2", region_name=region, endpoint_url=self.endpoint_url, config=self.config,
                    **self.credentials)
            except ValueError as exc:  # botocore refuses a malformed endpoint URL or region name
                raise ProviderError(INVALID_REQUEST, f"EC2 client for {region!r}: {exc}") from exc
            except botocore.exceptions.BotoCoreError as exc:
                raise map_botocore_error(exc) from exc
        return self._clients[region]

    def verify(self) -> list[str]:
        """Authenticated calls that prove the keys and the endpoint: DescribeRegions, then which of our GPU
        instance types each configured region offers. Returns the GPU names on sale."""
        known = {r["RegionName"] for r in _call(self.client(self.regions[0]).describe_regions)["Regions"]}
        missing = [region for region in self.regions if region not in known]
        if missing:
            raise ProviderError(INVALID_REQUEST, f"regions not available to this account: {', '.join(missing)}")
        offered: set[str] = set()
        for region in self.regions:
            pages = self.client(region).get_paginator("describe_instance_type_offerings").paginate(
                LocationType="region", Filters=[{"Name": "instance-type", "Values": sorted(EC2_GPU_TYPES)}])
            offered |= set(_call(lambda pages=pages: [o["InstanceType"] for page in pages
                                                      for o in page["InstanceTypeOfferings"]]))
        return sorted({EC2_GPU_TYPES[name].gpu for name in offered if EC2_GPU_TYPES[name].price is not None})

    def list_offers(self) -> list[ProviderOffer]:
        """The static GPU table in every configured region; AWS reports no capacity, so it is unknown."""
        return [
            ProviderOffer(instance_type=name, gpu=t.gpu, gpus_per_node=t.gpus, vcpus=t.vcpus, memory_gb=t.memory_gb,
                          region=region, price_per_hour=t.price, spot_price_per_hour=t.spot,
                          available_nodes=None, interconnect=t.interconnect)
            for region in self.regions for name, t in EC2_GPU_TYPES.items() if t.price is not None
        ]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """run_instances with ClientToken = idempotency key, in the first zone that can take it."""
        self._check_region(spec.region)
        client = self.client(spec.region)
        existing = self._by_key(spec)
        if existing is not None:
            return existing
        tags = {**spec.node_tags(), KEY_TAG: spec.idempotency_key}
        params: dict[str, Any] = {
            "ImageId": self._ami(spec.region), "InstanceType": spec.instance_type, "MinCount": 1, "MaxCount": 1,
            "ClientToken": client_token(spec.idempotency_key),
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        }
        if spec.spot:
            params["InstanceMarketOptions"] = SPOT_OPTIONS
        if spec.user_data:
            params["UserData"] = spec.user_data
        if spec.ssh_public_key.strip():
            params["KeyName"] = self._key_pair(spec.region, spec.ssh_public_key)
        last: ProviderError | None = None
        for subnet in self._zone_subnets(spec.region):
            groups = self.security_groups.get(spec.region, []) + self._port_groups(spec.region, subnet["VpcId"],
                                                                                   spec.ports)
            interface: dict[str, Any] = {"DeviceIndex": 0, "SubnetId": subnet["SubnetId"],
                                         "AssociatePublicIpAddress": self.public_ip}
            if groups:
                interface["Groups"] = groups
            try:
                reservation = _call(client.run_instances, **params, NetworkInterfaces=[interface])
            except ProviderError as exc:
                code = _cause_code(exc)
                if code == "IdempotentParameterMismatch":
                    return self._mismatched_token(spec, exc)
                if code not in _NEXT_ZONE_CODES:
                    raise
                last = exc  # this zone does not offer the type, or has none free: try the next
                continue
            return _node(spec.region, reservation["Instances"][0])
        raise last or ProviderError(INVALID_REQUEST, f"no subnet to launch into in {spec.region}")

    def describe(self, ref: str) -> NodeInfo:
        """describe_instances for one `<region>/<instance id>` ref (a fresh instance may be briefly unknown)."""
        region, instance_id = _split(ref)
        found = self._consistent(lambda: self._instances(region, instance_ids=[instance_id], strict=True))
        if not found:
            raise ProviderError(NOT_FOUND, f"no instance {instance_id} in {region}")
        return _node(region, found[0])

    def terminate(self, ref: str) -> None:
        """terminate_instances; an instance EC2 still does not know after the window is already gone."""
        region, instance_id = _split(ref)
        client = self.client(region)
        with already_gone_is_terminated():
            self._consistent(lambda: _call(client.terminate_instances, InstanceIds=[instance_id]))

    def stop(self, ref: str) -> None:
        """stop_instances (EBS-backed instances keep their disk; EC2 stops billing the instance)."""
        region, instance_id = _split(ref)
        client = self.client(region)
        self._consistent(lambda: _call(client.stop_instances, InstanceIds=[instance_id]))

    def start(self, ref: str) -> None:
        """start_instances; the instance comes back `pending`, then `running` with a new public address."""
        region, instance_id = _split(ref)
        client = self.client(region)
        self._consistent(lambda: _call(client.start_instances, InstanceIds=[instance_id]))

    def list_nodes(self) -> list[NodeInfo]:
        """Live instances carrying the rental tag, in every configured region."""
        filters = [{"Name": "tag-key", "Values": [RENTAL_TAG]}, {"Name": "instance-state-name", "Values": LIVE_STATES}]
        return [_node(region, i) for region in self.regions for i in self._instances(region, filters)]

    def _instances(self, region: str, filters: list | None = None, instance_ids: list | None = None,
                   strict: bool = False) -> list[dict]:
        """Instances matching filters or ids; an unknown id is [] unless `strict` (then not_found)."""
        kwargs: dict[str, Any] = {"Filters": filters} if filters else {"InstanceIds": instance_ids}
        pages = self.client(region).get_paginator("describe_instances").paginate(**kwargs)
        try:
            return _call(lambda: [i for page in pages for r in page["Reservations"] for i in r["Instances"]])
        except ProviderError as exc:
            if exc.kind == NOT_FOUND and not strict:
                return []
            raise

    def _consistent(self, call: Callable[[], Any]) -> Any:
        """Repeat `call` while EC2 answers not_found, with backoff, for up to the consistency window."""
        waited, delay = 0.0, 1.0
        while True:
            try:
                return call()
            except ProviderError as exc:
                if exc.kind != NOT_FOUND or waited + delay > self.consistency_window_s:
                    raise
            self.sleep(delay)
            waited, delay = waited + delay, min(delay * 2, 8.0)

    def _by_key(self, spec: ProvisionSpec) -> NodeInfo | None:
        found = self._instances(spec.region, [{"Name": f"tag:{KEY_TAG}", "Values": [spec.idempotency_key]},
                                              {"Name": "instance-state-name", "Values": LIVE_STATES}])
        return _node(spec.region, found[0]) if found else None

    def _mismatched_token(self, spec: ProvisionSpec, exc: ProviderError) -> NodeInfo:
        """The key already launched an instance with other parameters: that instance is the node."""
        def tagged() -> NodeInfo:
            node = self._by_key(spec)
            if node is None:
                raise ProviderError(NOT_FOUND, "not visible yet")
            return node
        try:
            return self._consistent(tagged)
        except ProviderError:
            raise ProviderError(INVALID_REQUEST, f"IdempotentParameterMismatch: the idempotency key "
                                                 f"{spec.idempotency_key!r} was used for another launch") from exc

    def _zone_subnets(self, region: str) -> list[dict]:
        """One subnet per availability zone: the configured ones, else the default VPC's."""
        client = self.client(region)
        if self.subnets.get(region):
            subnets = _call(client.describe_subnets, SubnetIds=self.subnets[region])["Subnets"]
            order = {subnet_id: i for i, subnet_id in enumerate(self.subnets[region])}
            subnets.sort(key=lambda s: order.get(s["SubnetId"], len(order)))
        else:
            subnets = _call(client.describe_subnets, Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
                "Subnets"]
            subnets.sort(key=lambda s: s["AvailabilityZone"])
            if not subnets:
                raise ProviderError(INVALID_REQUEST, f"{region} has no default VPC: set the partner's "
                                                     "adapter_options.subnets for it")
        by_zone: dict[str, dict] = {}
        for subnet in subnets:
            by_zone.setdefault(subnet["AvailabilityZone"], subnet)
        return list(by_zone.values())

    def _port_groups(self, region: str, vpc_id: str, ports: tuple[PortRule, ...]) -> list[str]:
        """The broker's security group opening exactly `ports` in this VPC, created when missing."""
        if not ports:
            return []
        rules = sorted({(p.port, p.source) for p in ports})
        name = "gpub-ports-" + hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]
        client = self.client(region)
        filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
        found = _call(client.describe_security_groups, Filters=filters)["SecurityGroups"]
        if found:
            return [found[0]["GroupId"]]
        try:
            group_id = _call(client.create_security_group, GroupName=name, VpcId=vpc_id,
                             Description="gpu-broker: inbound ports of broker nodes")["GroupId"]
        except ProviderError:
            found = _call(client.describe_security_groups, Filters=filters)["SecurityGroups"]
            if not found:  # not a lost race with another worker: a real failure
                raise
            return [found[0]["GroupId"]]
        permissions = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                        "IpRanges": [{"CidrIp": source, "Description": f"gpu-broker port {port}"}]}
                       for port, source in rules]
        _call(client.authorize_security_group_ingress, GroupId=group_id, IpPermissions=permissions)
        return [group_id]

    def _ami(self, region: str) -> str:
        if isinstance(self.ami, dict) and region in self.ami:
            return self.ami[region]
        if isinstance(self.ami, str) and self.ami:
            return self.ami
        if region in self._found_amis:
            return self._found_amis[region]
        images = _call(self.client(region).describe_images, Owners=[self.ami_owner],
                       Filters=[{"Name": "name", "Values": [self.ami_name]}])["Images"]
        if not images:
            raise ProviderError(INVALID_REQUEST, f"no AMI named {self.ami_name!r} owned by {self.ami_owner} "
                                                 f"in {region}")
        # Names carry the build date, so ties in CreationDate still pick the newest build.
        newest = max(images, key=lambda image: (image.get("CreationDate", ""), image.get("Name", "")))["ImageId"]
        self._found_amis[region] = newest
        return newest

    def _key_pair(self, region: str, public_key: str) -> str:
        name = "gpub-" + hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]
        client = self.client(region)
        try:
            _call(client.describe_key_pairs, KeyNames=[name])
        except ProviderError as exc:
            if exc.kind not in (NOT_FOUND, INVALID_REQUEST):
                raise
            _call(client.import_key_pair, KeyName=name, PublicKeyMaterial=public_key.strip().encode())
        return name

    def _check_region(self, region: str) -> None:
        if region not in self.regions:
            raise ProviderError(INVALID_REQUEST, f"region {region!r} is not configured for this partner")


def _split(ref: str) -> tuple[str, str]:
    region, sep, instance_id = ref.partition("/")
    if not sep or not instance_id:
        raise ProviderError(INVALID_REQUEST, f"node ref {ref!r} is not '<region>/<instance id>'")
    return region, instance_id


def _cause_code(error: ProviderError) -> str:
    """The EC2 error code behind a mapped error ('' when it did not come from EC2)."""
    cause = error.__cause__
    return error_code(cause) if isinstance(cause, botocore.exceptions.ClientError) else ""


def _as_list(ids: str | list[str]) -> list[str]:
    return [ids] if isinstance(ids, str) else list(ids)


def _state(instance: dict) -> str:
    """EC2's state; a spot instance ended by EC2 itself (StateReason `Server.SpotInstanceTermination`) was preempted."""
    state = _STATE.get(instance["State"]["Name"], "pending")
    reason = (instance.get("StateReason") or {}).get("Code", "")
    if state in ("terminated", "failed", "stopped") and reason == SPOT_INTERRUPTION:
        return "preempted"
    return state


def _node(region: str, instance: dict) -> NodeInfo:
    return NodeInfo(
        ref=f"{region}/{instance['InstanceId']}", state=_state(instance),
        region=region, instance_type=instance.get("InstanceType", ""),
        ip=instance.get("PublicIpAddress") or instance.get("PrivateIpAddress"),
        tags={t["Key"]: t["Value"] for t in instance.get("Tags", []) if t["Key"] != KEY_TAG},
        spot=instance.get("InstanceLifecycle") == "spot",
    )

