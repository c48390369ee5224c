"""Adapter for AWS EC2 through boto3.

Idempotency: `run_instances` carries `ClientToken` = the idempotency key (hashed when longer than
EC2's 64 characters), and the adapter first looks for a live instance tagged with that key, so a
retry returns the same instance even on endpoints that ignore client tokens. Node refs are
`<region>/<instance id>` because an instance id alone does not say which regional endpoint to ask.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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
    ProviderError,
    ProviderOffer,
    ProvisionSpec,
)

KEY_TAG = "gpu-broker:idempotency-key"
DLAMI_NAME = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_STATE = {"pending": "pending", "running": "running", "stopping": "failed", "stopped": "failed",
          "shutting-down": "terminated", "terminated": "terminated"}
_KIND_BY_CODE = {
    **dict.fromkeys(["InsufficientInstanceCapacity", "InsufficientCapacity", "UnfulfillableCapacity",
                     "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity"], NO_CAPACITY),
    **dict.fromkeys(["VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded"], QUOTA_EXCEEDED),
    **dict.fromkeys(["AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
                     "OptInRequired", "Blocked", "AccessDenied"], AUTH_FAILED),
    **dict.fromkeys(["RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError",
                     "InternalFailure", "ServiceUnavailable", "Unavailable"], TRANSIENT),
}


def map_client_error(exc: botocore.exceptions.ClientError) -> ProviderError:
    """The ProviderError for an EC2 error code (InvalidInstanceID.NotFound → not_found, …)."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "") or code
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    kind = _KIND_BY_CODE.get(code)
    if kind is None:
        if code.endswith(".NotFound"):
            kind = NOT_FOUND if code.startswith("InvalidInstanceID") else INVALID_REQUEST
        else:
            kind = TRANSIENT if status >= 500 else INVALID_REQUEST
    return ProviderError(kind, f"{code}: {message}")


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise map_client_error(exc) from exc
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as exc:
        raise ProviderError(AUTH_FAILED, "no AWS credentials") from exc
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError) as exc:
        raise ProviderError(TRANSIENT, type(exc).__name__) from exc


def client_token(key: str) -> str:
    return key if len(key) <= 64 and key.isascii() else hashlib.sha256(key.encode()).hexdigest()


class AwsAdapter:
    kind = "aws"

    def __init__(self, *, base_url: str = "", credentials: dict, regions: Iterable[str] = ("us-east-1",),
                 endpoint_url: str | None = None, ami: str | dict[str, str] | None = None,
                 ami_name: str = DLAMI_NAME, ami_owner: str = "amazon", max_attempts: int = 4,
                 timeout: float = 10.0):
        self.regions = list(regions)
        self.endpoint_url = endpoint_url or base_url or None
        self.credentials = {k: credentials[k] for k in ("aws_access_key_id", "aws_secret_access_key",
                                                         "aws_session_token") if credentials.get(k)}
        self.ami, self.ami_name, self.ami_owner = ami, ami_name, ami_owner
        # Standard mode retries throttling, 5xx and connection errors; RunInstances is safe to retry
        # because every call carries a ClientToken.
        self.config = Config(retries={"mode": "standard", "max_attempts": max_attempts},
                             connect_timeout=timeout, read_timeout=timeout)
        self._clients: dict[str, Any] = {}
        self._found_amis: dict[str, str] = {}

    def client(self, region: str) -> Any:
        """The EC2 client for one region (the place tests attach botocore event hooks)."""
        if region not in self._clients:
            self._clients[region] = boto3.session.Session().client(
                "ec2", region_name=region, endpoint_url=self.endpoint_url, config=self.config, **self.credentials)
        return self._clients[region]

    def list_offers(self) -> list[ProviderOffer]:
        """The static GPU table in every configured region; AWS reports no capacity, so it is unknown."""
        return [
            ProviderOffer(instance_type=name, gpu=t.gpu, gpus_per_node=t.gpus, vcpus=t.vcpus, memory_gb=t.memory_gb,
                          region=region, price_per_hour=t.price, spot_price_per_hour=t.spot,
                          available_nodes=None, interconnect=t.interconnect)
            for region in self.regions for name, t in EC2_GPU_TYPES.items() if t.price is not None
        ]

    def provision(self, spec: ProvisionSpec) -> NodeInfo:
        """run_instances with ClientToken = idempotency key, the rental tag and the user data."""
        self._check_region(spec.region)
        client = self.client(spec.region)
        existing = self._instances(spec.region, [{"Name": f"tag:{KEY_TAG}", "Values": [spec.idempotency_key]},
                                                 {"Name": "instance-state-name", "Values": LIVE_STATES}])
        if existing:
            return _node(spec.region, existing[0])
        tags = {**spec.node_tags(), KEY_TAG: spec.idempotency_key}
        params: dict[str, Any] = {
            "ImageId": self._ami(spec.region), "InstanceType": spec.instance_type, "MinCount": 1, "MaxCount": 1,
            "ClientToken": client_token(spec.idempotency_key),
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        }
        if spec.user_data:
            params["UserData"] = spec.user_data
        if spec.ssh_public_key.strip():
            params["KeyName"] = self._key_pair(spec.region, spec.ssh_public_key)
        reservation = _call(client.run_instances, **params)
        return _node(spec.region, reservation["Instances"][0])

    def describe(self, ref: str) -> NodeInfo:
        """describe_instances for one `<region>/<instance id>` ref."""
        region, instance_id = _split(ref)
        found = self._instances(region, instance_ids=[instance_id])
        if not found:
            raise ProviderError(NOT_FOUND, f"no instance {instance_id} in {region}")
        return _node(region, found[0])

    def terminate(self, ref: str) -> None:
        """terminate_instances; an unknown instance id is already gone."""
        region, instance_id = _split(ref)
        try:
            _call(self.client(region).terminate_instances, InstanceIds=[instance_id])
        except ProviderError as exc:
            if exc.kind != NOT_FOUND:
                raise

    def list_nodes(self) -> list[NodeInfo]:
        """Live instances carrying the rental tag, in every configured region."""
        filters = [{"Name": "tag-key", "Values": [RENTAL_TAG]}, {"Name": "instance-state-name", "Values": LIVE_STATES}]
        return [_node(region, i) for region in self.regions for i in self._instances(region, filters)]

    def _instances(self, region: str, filters: list | None = None, instance_ids: list | None = None) -> list[dict]:
        kwargs: dict[str, Any] = {"Filters": filters} if filters else {"InstanceIds": instance_ids}
        pages = self.client(region).get_paginator("describe_instances").paginate(**kwargs)
        try:
            return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        except botocore.exceptions.ClientError as exc:
            error = map_client_error(exc)
            if error.kind == NOT_FOUND:
                return []
            raise error from exc

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
            raise ProviderError(INVALID_REQUEST, f"no AMI named {self.ami_name!r} in {region}")
        newest = max(images, key=lambda image: image.get("CreationDate", ""))["ImageId"]
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


def _node(region: str, instance: dict) -> NodeInfo:
    return NodeInfo(
        ref=f"{region}/{instance['InstanceId']}", state=_STATE.get(instance["State"]["Name"], "pending"),
        region=region, instance_type=instance.get("InstanceType", ""),
        ip=instance.get("PublicIpAddress") or instance.get("PrivateIpAddress"),
        tags={t["Key"]: t["Value"] for t in instance.get("Tags", []) if t["Key"] != KEY_TAG},
    )

