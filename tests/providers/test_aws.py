"""The AWS adapter against moto over HTTP: what real accounts and real EC2 do to a launch.

One moto account serves the whole module (building a region costs seconds): every test uses its
own idempotency keys, ports and regions, so none sees another's resources.
"""

from __future__ import annotations

import botocore.exceptions
import pytest
import requests

from providers.aws import DLAMI_NAME, AwsAdapter, map_client_error
from providers.base import PortRule, ProviderError, ProvisionSpec

from .conftest import inject_ec2, inject_no_instances, register_ami

CREDS = {"aws_access_key_id": "AKIAEXAMPLEBROKER", "aws_secret_access_key": "secret"}
MOTO_ACCOUNT = "123456789012"  # moto registers images as this account


@pytest.fixture(scope="module")
def account(moto_url: str) -> str:
    requests.post(f"{moto_url}/moto-api/reset", timeout=5)
    return register_ami(moto_url)


@pytest.fixture
def moto(moto_url: str, account: str, monkeypatch) -> str:
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0)
    return moto_url


@pytest.fixture
def moto_ami(account: str) -> str:
    return account


def _adapter(moto_url: str, ami: str | None = "ami-placeholder", **options) -> tuple[AwsAdapter, list[float]]:
    slept: list[float] = []
    options.setdefault("regions", ["us-east-1", "us-west-2"])
    adapter = AwsAdapter(credentials=CREDS, endpoint_url=moto_url, ami=ami, max_attempts=1, sleep=slept.append,
                         **options)
    return adapter, slept


def _spec(key: str = "k1", region: str = "us-east-1", **extra) -> ProvisionSpec:
    return ProvisionSpec(key, "rental-9", "p5.48xlarge", region, "#!/bin/bash\necho ok", **extra)


def _instance(adapter: AwsAdapter, ref: str) -> dict:
    region, instance_id = ref.split("/")
    return adapter.client(region).describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def _interface_groups(adapter: AwsAdapter, ref: str) -> set[str]:
    instance = _instance(adapter, ref)
    return {g["GroupId"] for eni in instance["NetworkInterfaces"] for g in eni.get("Groups", [])}


def test_a_spot_launch_reaches_ec2_as_a_one_time_spot_request(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    sent: list[dict] = []
    adapter.client("us-east-1").meta.events.register(
        "provide-client-params.ec2.RunInstances", lambda params, **_: sent.append(params))
    spot = adapter.provision(_spec("spot", spot=True))
    on_demand = adapter.provision(_spec("on-demand"))
    assert _instance(adapter, spot.ref).get("InstanceLifecycle") == "spot"  # what EC2 records
    assert "InstanceLifecycle" not in _instance(adapter, on_demand.ref)
    assert adapter.describe(spot.ref).spot and not adapter.describe(on_demand.ref).spot
    assert sent[0]["InstanceMarketOptions"] == {
        "MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}


def test_ports_open_through_one_security_group_per_vpc_and_rule_set(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    ports = (PortRule(22), PortRule(8000, "203.0.113.7/32"))
    before = _port_groups(adapter)
    first = adapter.provision(_spec("ports-a", ports=ports))
    second = adapter.provision(_spec("ports-b", ports=ports))
    groups = [g for g in _port_groups(adapter) if g["GroupId"] not in {b["GroupId"] for b in before}]
    assert len(groups) == 1
    opened = {(p["FromPort"], r["CidrIp"]) for p in groups[0]["IpPermissions"] for r in p["IpRanges"]}
    assert opened == {(22, "0.0.0.0/0"), (8000, "203.0.113.7/32")}
    assert _interface_groups(adapter, first.ref) == _interface_groups(adapter, second.ref) == {groups[0]["GroupId"]}


def _port_groups(adapter: AwsAdapter) -> list[dict]:
    return adapter.client("us-east-1").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["gpub-ports-*"]}])["SecurityGroups"]


def test_subnet_and_security_group_come_from_the_partners_settings(moto, moto_ami):
    probe, _ = _adapter(moto, moto_ami)
    ec2 = probe.client("us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]
    own_group = ec2.create_security_group(GroupName="partner-sg", Description="d", VpcId=vpc)["GroupId"]
    adapter, _ = _adapter(moto, moto_ami, subnets={"us-east-1": [subnet["SubnetId"]]},
                          security_groups={"us-east-1": own_group})
    node = adapter.provision(_spec("configured", ports=(PortRule(8000),)))
    instance = _instance(adapter, node.ref)
    assert instance["SubnetId"] == subnet["SubnetId"] and instance["Placement"]["AvailabilityZone"] == "us-east-1c"
    groups = _interface_groups(adapter, node.ref)
    assert own_group in groups and len(groups) == 2  # the partner's group plus the broker's port group


def test_an_account_without_a_default_vpc_is_told_to_configure_subnets(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami, regions=["eu-west-1"])
    ec2 = adapter.client("eu-west-1")
    for subnet in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    with pytest.raises(ProviderError) as caught:
        adapter.provision(_spec("no-vpc", region="eu-west-1"))
    assert caught.value.kind == "invalid_request" and "subnets" in caught.value.message


def test_a_type_not_offered_in_one_zone_is_launched_in_the_next(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    hits = inject_ec2(adapter, "RunInstances", "Unsupported", times=1)
    node = adapter.provision(_spec("next-zone"))
    assert hits == ["Unsupported"]
    assert _instance(adapter, node.ref)["Placement"]["AvailabilityZone"] == "us-east-1b"


def test_no_zone_offering_the_type_is_no_capacity_after_trying_every_zone(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    zones = len(adapter.client("us-east-1").describe_availability_zones()["AvailabilityZones"])
    hits = inject_ec2(adapter, "RunInstances", "InsufficientInstanceCapacity")
    with pytest.raises(ProviderError) as caught:
        adapter.provision(_spec("no-zone"))
    assert caught.value.kind == "no_capacity" and len(hits) == zones


def test_quota_stops_at_the_first_zone(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    hits = inject_ec2(adapter, "RunInstances", "VcpuLimitExceeded")
    with pytest.raises(ProviderError, match="quota_exceeded"):
        adapter.provision(_spec("quota"))
    assert len(hits) == 1


def test_a_reused_client_token_returns_the_instance_it_launched(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    first = adapter.provision(_spec("same"))
    retry, _ = _adapter(moto, moto_ami)
    inject_no_instances(retry, times=1)  # the tag lookup does not see it yet
    inject_ec2(retry, "RunInstances", "IdempotentParameterMismatch", times=1)
    assert retry.provision(_spec("same")).ref == first.ref


def test_a_client_token_mismatch_with_nothing_to_find_is_a_permanent_invalid_request(moto, moto_ami):
    adapter, slept = _adapter(moto, moto_ami)
    inject_ec2(adapter, "RunInstances", "IdempotentParameterMismatch", times=1)
    with pytest.raises(ProviderError) as caught:
        adapter.provision(_spec("never-launched"))
    assert caught.value.kind == "invalid_request" and caught.value.permanent
    assert "IdempotentParameterMismatch" in caught.value.message and sum(slept) <= adapter.consistency_window_s


def test_an_instance_briefly_not_found_after_launch_is_still_described_and_not_abandoned(moto, moto_ami):
    adapter, slept = _adapter(moto, moto_ami)
    node = adapter.provision(_spec("eventual-describe"))
    hits = inject_ec2(adapter, "DescribeInstances", "InvalidInstanceID.NotFound", times=3)
    assert adapter.describe(node.ref).ref == node.ref
    assert len(hits) == 3 and 0 < sum(slept) <= adapter.consistency_window_s


def test_terminate_during_the_not_found_window_still_terminates_the_instance(moto, moto_ami):
    adapter, _ = _adapter(moto, moto_ami)
    node = adapter.provision(_spec("eventual-terminate"))
    inject_ec2(adapter, "TerminateInstances", "InvalidInstanceID.NotFound", times=2)
    adapter.terminate(node.ref)
    assert _instance(adapter, node.ref)["State"]["Name"] in ("shutting-down", "terminated")  # not leaked


def test_an_instance_unknown_past_the_window_is_not_found(moto, moto_ami):
    adapter, slept = _adapter(moto, moto_ami)
    with pytest.raises(ProviderError) as caught:
        adapter.describe("us-east-1/i-0123456789abcdef0")
    assert caught.value.kind == "not_found" and sum(slept) <= adapter.consistency_window_s


def test_the_deep_learning_ami_is_found_by_name_and_owner_in_each_region(moto):
    images = {}
    for region, build in (("us-east-1", "20250101"), ("us-west-2", "20250202")):
        ec2 = _adapter(moto)[0].client(region)
        older = ec2.register_image(Name=DLAMI_NAME.replace("*", " 20240101"), RootDeviceName="/dev/sda1")
        newest = ec2.register_image(Name=DLAMI_NAME.replace("*", f" {build}"), RootDeviceName="/dev/sda1")
        ec2.register_image(Name="ubuntu-without-a-driver", RootDeviceName="/dev/sda1")
        images[region] = (older["ImageId"], newest["ImageId"])
    adapter, _ = _adapter(moto, ami=None, ami_owner=MOTO_ACCOUNT)
    for region, (_older, newest) in images.items():
        node = adapter.provision(_spec(f"ami-{region}", region=region))
        assert _instance(adapter, node.ref)["ImageId"] == newest
    stranger, _ = _adapter(moto, ami=None, ami_owner="999999999999")  # a look-alike image of another owner
    with pytest.raises(ProviderError, match="no AMI named"):
        stranger.provision(_spec("other"))


@pytest.mark.parametrize(("code", "kind"), [
    ("InsufficientInstanceCapacity", "no_capacity"), ("Unsupported", "no_capacity"),
    ("InsufficientFreeAddressesInSubnet", "no_capacity"), ("SpotMaxPriceTooLow", "no_capacity"),
    ("VcpuLimitExceeded", "quota_exceeded"), ("MaxSpotInstanceCountExceeded", "quota_exceeded"),
    ("PendingVerification", "quota_exceeded"), ("IdempotentParameterMismatch", "invalid_request"),
    ("InvalidInstanceID.NotFound", "not_found"), ("InvalidSubnetID.NotFound", "invalid_request"),
    ("RequestLimitExceeded", "transient"), ("UnauthorizedOperation", "auth_failed"),
])
def test_ec2_error_codes_map_to_the_broker_error_kinds(code, kind):
    exc = botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "RunInstances")
    assert map_client_error(exc).kind == kind


def test_an_instance_stops_and_starts_again_the_optional_capability(moto, moto_ami):
    from providers.base import can_stop

    adapter, _ = _adapter(moto, moto_ami)
    assert can_stop(adapter)
    node = adapter.provision(_spec("stop-start"))
    adapter.stop(node.ref)
    assert adapter.describe(node.ref).state == "stopped"
    assert node.ref in {n.ref for n in adapter.list_nodes()}  # a stopped node is still ours, not an orphan
    adapter.stop(node.ref)  # again: still stopped
    adapter.start(node.ref)
    assert adapter.describe(node.ref).state in ("pending", "running")
