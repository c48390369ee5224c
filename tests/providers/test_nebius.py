"""The Nebius adapter's security groups and service-account credentials, against the simulated Nebius API (its
VPC and IAM services answered in the SDK's own messages)."""

from __future__ import annotations

import logging

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from nebius.aio.channel import NoCredentials
from nebius.aio.service_error import RequestError
from nebius.api.nebius.common.v1 import ResourceMetadata
from nebius.api.nebius.vpc.v1 import (
    CreateSecurityGroupRequest,
    CreateSecurityRuleRequest,
    ListSecurityRulesRequest,
    RuleAccessAction,
    RuleIngress,
    RuleProtocol,
    SecurityGroupServiceClient,
    SecurityGroupSpec,
    SecurityRuleServiceClient,
    SecurityRuleSpec,
)
from nebius.base.options import INSECURE
from nebius.base.resolver import Constant
from nebius.sdk import SDK

from providers.base import PortRule, ProviderError, ProvisionSpec
from providers.nebius import NebiusAdapter, port_rules, ports_group_name, service_account_of
from providers.simulator import SimulatorServer
from providers.simulator.nebius_iam import TOKEN_LIFETIME_S

from .conftest import SLUG, VENDOR_SEED, VirtualClock
from .nebius_keys import private_key_pem, register_key, service_account_credentials

SHAPE = ("gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1")
TOKEN = {"iam_token": f"sim-{SLUG}", "tenant_id": f"tenant-{SLUG}"}
EC_KEY = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture
def sim():
    server = SimulatorServer({SLUG: VENDOR_SEED["nebius"]}, capacity=4).start()
    yield server
    server.stop()


def _adapter(sim: SimulatorServer, credentials: dict) -> NebiusAdapter:
    return NebiusAdapter(base_url=sim.nebius_url(SLUG), credentials=credentials, retries=0)


def _spec(key: str, ports: tuple[PortRule, ...] = ()) -> ProvisionSpec:
    return ProvisionSpec(key, "rental-1", *SHAPE, "echo ok", ports=ports)


@pytest.fixture
def sdk(sim):
    """A client of the simulated API, as the partner's own tools would be."""
    channel = SDK(credentials=NoCredentials(), resolver=Constant(sim.nebius_url(SLUG).removeprefix("http://")),
                  options=[(INSECURE, True)], user_agent_prefix="gpu-broker-tests/1")
    yield channel
    channel.sync_close()


def _rules(sdk: SDK, group_id: str) -> list:
    answer = SecurityRuleServiceClient(sdk).list(ListSecurityRulesRequest(parent_id=group_id),
                                                 metadata=[("authorization", f"Bearer sim-{SLUG}")]).wait()
    return list(answer.items)


def _node(sim: SimulatorServer, ref: str) -> dict:
    return sim.store.get_node(SLUG, ref.removeprefix("computeinstance-"))


# -- ports ----------------------------------------------------------------------------------------------
def test_launches_with_the_same_ports_share_one_security_group_on_their_interface(sim, sdk):
    ports = (PortRule(22), PortRule(8000, "203.0.113.7/32"))
    adapter = _adapter(sim, TOKEN)
    first, second = adapter.provision(_spec("a", ports)), _adapter(sim, TOKEN).provision(_spec("b", ports))
    other = adapter.provision(_spec("c", (PortRule(22),)))
    groups = {ref: _node(sim, ref)["firewall_rulesets"] for ref in (first.ref, second.ref, other.ref)}
    assert groups[first.ref] == groups[second.ref] and len(groups[first.ref]) == 1
    assert groups[other.ref] != groups[first.ref]
    assert _node(sim, adapter.provision(_spec("d")).ref)["firewall_rulesets"] == []  # the default group applies
    rulesets = {r["name"] for r in sim.store.firewall_rulesets(SLUG)}
    assert len(rulesets) == 2 and all(name.startswith("gpub-ports-") for name in rulesets)

    rules = {rule.metadata.name: rule.spec for rule in _rules(sdk, "vpcsecuritygroup-" + groups[first.ref][0])}
    assert rules["egress-any"].egress is not None and rules["egress-any"].protocol == RuleProtocol.ANY
    ingress = sorted((list(spec.ingress.source_cidrs), list(spec.ingress.destination_ports), spec.protocol.name)
                     for spec in rules.values() if spec.ingress is not None)
    assert ingress == [(["0.0.0.0/0"], [22], "TCP"), (["203.0.113.7/32"], [8000], "TCP")]
    assert all(spec.access == RuleAccessAction.ALLOW for spec in rules.values())


def test_a_group_left_without_some_of_its_rules_gets_them_on_the_next_launch(sim, sdk):
    ports = (PortRule(22), PortRule(8000, "10.0.0.0/8"))
    project = "project-eu-north1-acme"
    auth = [("authorization", f"Bearer sim-{SLUG}")]
    group = SecurityGroupServiceClient(sdk).create(CreateSecurityGroupRequest(  # a launch that stopped half-way
        metadata=ResourceMetadata(parent_id=project, name=ports_group_name(ports)),
        spec=SecurityGroupSpec(network_id=f"vpcnetwork-{project}")), metadata=auth).wait().resource_id
    egress_name, egress = port_rules(ports)[0]
    SecurityRuleServiceClient(sdk).create(CreateSecurityRuleRequest(
        metadata=ResourceMetadata(parent_id=group, name=egress_name), spec=egress), metadata=auth).wait()
    node = _adapter(sim, TOKEN).provision(_spec("a", ports))
    assert ["vpcsecuritygroup-" + g for g in _node(sim, node.ref)["firewall_rulesets"]] == [group]
    assert sorted(rule.metadata.name for rule in _rules(sdk, group)) == ["egress-any", "ingress-tcp-1",
                                                                         "ingress-tcp-2"]
    assert sorted((p["port"], p["source"]) for p in _node(sim, node.ref)["ports"]) == [(22, "0.0.0.0/0"),
                                                                                       (8000, "10.0.0.0/8")]


def test_more_ports_than_one_rule_takes_are_split_over_rules_per_source_network():
    ports = tuple(PortRule(8000 + n) for n in range(10)) + (PortRule(22, "192.0.2.0/24"),)
    specs = dict(port_rules(ports))
    ingress = [(list(s.ingress.source_cidrs), list(s.ingress.destination_ports)) for s in specs.values()
               if s.ingress is not None]
    assert ingress == [(["0.0.0.0/0"], list(range(8000, 8008))), (["0.0.0.0/0"], [8008, 8009]),
                       (["192.0.2.0/24"], [22])]


@pytest.mark.parametrize("field, ingress, message", [
    ("spec.ingress.destination_ports[1]", RuleIngress(destination_ports=[22, 70000]), "1-65535"),
    ("spec.ingress.destination_ports", RuleIngress(destination_ports=list(range(1, 10))), "at most 8"),
    ("spec.ingress.source_cidrs[0]", RuleIngress(source_cidrs=["10.0.0.300/8"], destination_ports=[22]), "IPv4"),
])
def test_the_simulated_vpc_refuses_a_rule_as_the_api_validation_does(sim, sdk, field, ingress, message):
    _adapter(sim, TOKEN).provision(_spec("a", (PortRule(22),)))
    group = "vpcsecuritygroup-" + sim.store.firewall_rulesets(SLUG)[0]["id"]
    request = CreateSecurityRuleRequest(
        metadata=ResourceMetadata(parent_id=group, name="bad-rule"),
        spec=SecurityRuleSpec(access=RuleAccessAction.ALLOW, protocol=RuleProtocol.TCP, ingress=ingress))
    with pytest.raises(RequestError) as caught:
        SecurityRuleServiceClient(sdk).create(request, metadata=[("authorization", f"Bearer sim-{SLUG}")]).wait()
    status = caught.value.status
    violation = status.service_errors[0].bad_request.violations[0]
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT and (violation.field, message in violation.message) == (
        field, True)


def test_a_refused_port_leaves_nothing_behind_at_the_partner(sim):
    adapter = _adapter(sim, TOKEN)
    with pytest.raises(ProviderError) as caught:
        adapter.provision(_spec("a", (PortRule(22), PortRule(8000, "10.0.0.1/8"))))  # host bits set: not a network
    assert caught.value.kind == "invalid_request" and "10.0.0.1/8" in caught.value.message
    assert sim.store.list_nodes(SLUG) == [] and sim.store.firewall_rulesets(SLUG) == []


# -- service-account credentials ------------------------------------------------------------------------
def test_a_service_account_key_is_exchanged_for_the_iam_token_every_call_carries(sim):
    credentials = service_account_credentials(sim.nebius_url(SLUG), SLUG, SHAPE[1])
    adapter = _adapter(sim, credentials)
    assert adapter.verify() == ["gpu-h100-sxm"]
    node = adapter.provision(_spec("a", (PortRule(22),)))
    assert [n.ref for n in adapter.list_nodes()] == [node.ref]
    adapter.terminate(node.ref)
    assert adapter.list_nodes() == []


def test_the_token_is_exchanged_again_once_most_of_its_lifetime_has_passed(sim):
    adapter = _adapter(sim, service_account_credentials(sim.nebius_url(SLUG), SLUG, SHAPE[1]))
    clock = VirtualClock(0.0)
    adapter.clock = clock
    adapter.list_nodes()
    sim.store.set_token(SLUG, "rotated")  # a token exchanged from now on differs from the one the adapter holds
    clock.sleep(TOKEN_LIFETIME_S * 0.5)
    with pytest.raises(ProviderError) as caught:
        adapter.list_nodes()  # still the first token, which the API no longer takes
    assert caught.value.kind == "auth_failed"
    clock.sleep(TOKEN_LIFETIME_S * 0.45)
    assert adapter.list_nodes() == []


def test_a_key_the_partner_did_not_register_is_a_permanent_auth_failure(sim):
    good = service_account_credentials(sim.nebius_url(SLUG), SLUG, SHAPE[1])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_id = register_key(sim.nebius_url(SLUG), SLUG, SHAPE[1], other_key)
    for wrong in ({**good, "private_key": private_key_pem()},  # signed by a key Nebius never saw
                  {**good, "public_key_id": other_id},  # names another key than the one that signed
                  {**good, "public_key_id": "publickey-unknown"},
                  {**good, "service_account_id": "serviceaccount-someone-else"}):
        with pytest.raises(ProviderError) as caught:
            _adapter(sim, wrong).verify()
        assert (caught.value.kind, caught.value.permanent) == ("auth_failed", True), wrong["public_key_id"]
    assert _adapter(sim, {**good, "public_key_id": other_id, "private_key": private_key_pem(other_key)}).verify()


def test_a_private_key_pasted_with_escaped_newlines_is_the_same_key(sim):
    credentials = service_account_credentials(sim.nebius_url(SLUG), SLUG, SHAPE[1])
    escaped = {**credentials, "private_key": credentials["private_key"].replace("\n", "\\n")}
    assert "\n" not in escaped["private_key"] and _adapter(sim, escaped).verify() == ["gpu-h100-sxm"]


def test_the_private_key_is_never_logged_nor_in_an_error(sim, caplog):
    caplog.set_level(logging.DEBUG)
    credentials = service_account_credentials(sim.nebius_url(SLUG), SLUG, SHAPE[1])
    secret = credentials["private_key"].splitlines()[1]
    _adapter(sim, credentials).verify()
    with pytest.raises(ProviderError) as caught:
        _adapter(sim, {**credentials, "private_key": private_key_pem()}).verify()
    assert secret not in caplog.text and secret not in str(caught.value)


@pytest.mark.parametrize("credentials, problem", [
    ({"iam_token": "t", "service_account_id": "serviceaccount-x"}, "not both"),
    ({"service_account_id": "serviceaccount-x", "public_key_id": "publickey-x"}, "private_key missing"),
    ({}, "give an iam_token or a service account's service_account_id, public_key_id and private_key"),
    ({"service_account_id": "s", "public_key_id": "p", "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n"},
     "not an unencrypted PEM private key"),
    ({"service_account_id": "s", "public_key_id": "p", "private_key": EC_KEY}, "not an RSA key"),
])
def test_credentials_that_cannot_authenticate_are_refused_before_any_call(credentials, problem):
    with pytest.raises(ValueError, match=problem):
        service_account_of(credentials)
    with pytest.raises(ProviderError) as caught:  # no endpoint answers there: nothing is called
        NebiusAdapter(base_url="http://127.0.0.1:9", credentials={**credentials, "tenant_id": "t"},
                      retries=0).list_nodes()
    assert caught.value.kind == "auth_failed"
