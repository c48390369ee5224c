"""One contract, every adapter: aws (moto server); lambda, partner_api, shadeform, vast, verda, hyperstack, gcp, lium,
jarvislabs, mithril, yotta, hyperbolic, seeweb (simulator); nebius (the simulator's gRPC API); local. A spot-only kind (mithril) launches spot in
every test and refuses on demand."""

from dataclasses import replace

import pytest

from providers.base import RENTAL_TAG, PortRule, ProviderAdapter, ProviderError

from .conftest import Harness


def test_adapter_implements_the_protocol(harness: Harness):
    assert isinstance(harness.adapter, ProviderAdapter)


def test_list_offers_returns_priced_shapes_including_the_provisionable_one(harness: Harness):
    offers = harness.adapter.list_offers()
    if not harness.sells_offers:  # the local machine offers a node only when NVML sees GPUs
        assert all(o.gpus_per_node >= 1 for o in offers)
        return
    assert offers and all(o.gpus_per_node >= 1 for o in offers)
    if harness.spot_only:  # no on-demand price at all: never an on-demand offer
        assert all(o.price_per_hour is None and o.spot_price_per_hour > 0 for o in offers)
    else:
        assert all(o.price_per_hour > 0 for o in offers)
    spec = harness.make_spec("k")
    assert (spec.instance_type, spec.region) in {(o.instance_type, o.region) for o in offers}


def test_provision_tags_node_with_the_rental_id(harness: Harness):
    node = harness.adapter.provision(harness.make_spec("key-1"))
    assert node.state in ("pending", "running")
    assert node.tags[RENTAL_TAG] == "rental-1"
    assert node.rental_id == "rental-1"


def test_provision_again_with_the_same_key_returns_the_same_node(harness: Harness):
    first = harness.adapter.provision(harness.make_spec("key-1"))
    again = harness.adapter.provision(harness.make_spec("key-1"))
    assert again.ref == first.ref
    assert [n.ref for n in harness.adapter.list_nodes()] == [first.ref]


def test_describe_reports_the_provisioned_node(harness: Harness):
    node = harness.adapter.provision(harness.make_spec("key-1"))
    described = harness.adapter.describe(node.ref)
    spec = harness.make_spec("key-1")
    assert (described.ref, described.instance_type, described.region) == (node.ref, spec.instance_type, spec.region)
    assert described.state in ("pending", "running")


def test_list_nodes_finds_every_broker_tagged_node(harness: Harness):
    node = harness.adapter.provision(harness.make_spec("key-1"))
    listed = {n.ref: n for n in harness.adapter.list_nodes()}
    assert listed[node.ref].rental_id == "rental-1"


def test_terminate_twice_succeeds_and_the_node_leaves_the_list(harness: Harness):
    node = harness.adapter.provision(harness.make_spec("key-1"))
    harness.adapter.terminate(node.ref)
    harness.adapter.terminate(node.ref)
    if harness.forgets_terminated:
        with pytest.raises(ProviderError) as err:
            harness.adapter.describe(node.ref)
        assert err.value.kind == "not_found"
    else:
        assert harness.adapter.describe(node.ref).state == "terminated"
    assert node.ref not in {n.ref for n in harness.adapter.list_nodes()}


def test_terminate_of_an_unknown_node_is_success(harness: Harness):
    harness.adapter.terminate(harness.unknown_ref)


def test_describe_of_an_unknown_node_raises_not_found(harness: Harness):
    with pytest.raises(ProviderError) as err:
        harness.adapter.describe(harness.unknown_ref)
    assert err.value.kind == "not_found"


def test_no_capacity_is_reported_as_a_retryable_error(harness: Harness):
    harness.arrange_no_capacity()
    with pytest.raises(ProviderError) as err:
        harness.adapter.provision(harness.make_spec("key-2"))
    assert (err.value.kind, err.value.permanent) == ("no_capacity", False)


def test_quota_exceeded_is_reported(harness: Harness):
    if harness.arrange_quota is None:
        pytest.skip(f"{harness.kind} has no account quota")
    harness.arrange_quota()
    with pytest.raises(ProviderError) as err:
        harness.adapter.provision(harness.make_spec("key-3"))
    assert err.value.kind == "quota_exceeded"


def test_a_wrong_key_raises_a_permanent_auth_failure(harness: Harness):
    if harness.wrong_key_adapter is None:
        pytest.skip(f"{harness.kind} takes no credentials")
    with pytest.raises(ProviderError) as err:
        harness.wrong_key_adapter().list_nodes()
    assert (err.value.kind, err.value.permanent) == ("auth_failed", True)


def test_an_invalid_request_raises_a_permanent_error(harness: Harness):
    with pytest.raises(ProviderError) as err:
        harness.adapter.provision(harness.invalid_spec)
    assert (err.value.kind, err.value.permanent) == ("invalid_request", True)


def test_a_transient_5xx_is_retried_until_it_succeeds(harness: Harness):
    if harness.fail_next is None:
        pytest.skip(f"{harness.kind} makes no network calls")
    node = harness.adapter.provision(harness.make_spec("key-1"))
    harness.fail_next(2)
    assert harness.adapter.describe(node.ref).ref == node.ref


def test_a_5xx_that_outlasts_the_retries_raises_transient(harness: Harness):
    if harness.fail_next is None:
        pytest.skip(f"{harness.kind} makes no network calls")
    harness.fail_next(10)
    with pytest.raises(ProviderError) as err:
        harness.adapter.list_nodes()
    assert (err.value.kind, err.value.permanent) == ("transient", False)


def test_a_spot_launch_reaches_the_partner_as_spot_or_is_refused(harness: Harness):
    """Never billed as spot while launched on demand: the partner itself records a spot node."""
    if harness.partner_says_spot is None:  # sells no spot: lists no spot price, refuses a spot launch
        assert all(o.spot_price_per_hour is None for o in harness.adapter.list_offers())
        with pytest.raises(ProviderError) as caught:
            harness.adapter.provision(harness.spot_spec)
        assert caught.value.kind == "invalid_request"
        assert harness.adapter.list_nodes() == []
        return
    spot = harness.spot_spec
    assert any(o.spot_price_per_hour for o in harness.adapter.list_offers()
               if (o.instance_type, o.region) == (spot.instance_type, spot.region))
    node = harness.adapter.provision(spot)
    assert harness.partner_says_spot(node.ref) and harness.adapter.describe(node.ref).spot
    if harness.spot_only:  # an on-demand launch is refused, never bid for
        with pytest.raises(ProviderError) as caught:
            harness.adapter.provision(replace(harness.make_spec("on-demand"), spot=False))
        assert caught.value.kind == "invalid_request"
        assert [n.ref for n in harness.adapter.list_nodes()] == [node.ref]
        return
    on_demand = harness.adapter.provision(harness.make_spec("on-demand"))
    assert not harness.partner_says_spot(on_demand.ref)


def test_a_launch_opens_its_ports_to_their_source_networks_at_the_partner(harness: Harness):
    if harness.partner_ports is None:
        pytest.skip(f"{harness.kind}: this harness reads no record of the partner's open ports")
    ports = (PortRule(22), PortRule(8000, "203.0.113.7/32"), PortRule(8001, "203.0.113.7/32"))
    node = harness.adapter.provision(replace(harness.make_spec("ports"), ports=ports))
    assert sorted(harness.partner_ports(node.ref)) == [(22, "0.0.0.0/0"), (8000, "203.0.113.7/32"),
                                                      (8001, "203.0.113.7/32")]
    plain = harness.adapter.provision(harness.make_spec("no-ports"))
    assert harness.partner_ports(plain.ref) == []


def test_a_port_the_partner_cannot_open_is_refused_as_an_invalid_request(harness: Harness):
    if harness.partner_ports is None:
        pytest.skip(f"{harness.kind}: this harness reads no record of the partner's open ports")
    for bad in (PortRule(0), PortRule(65536), PortRule(22, "not-a-network"), PortRule(22, "::/0")):
        with pytest.raises(ProviderError) as err:
            harness.adapter.provision(replace(harness.make_spec("bad-port"), ports=(PortRule(22), bad)))
        assert (err.value.kind, err.value.permanent) == ("invalid_request", True), bad
    assert harness.adapter.list_nodes() == []


def test_verify_makes_a_call_that_proves_the_credentials(harness: Harness):
    gpus = harness.adapter.verify()
    assert isinstance(gpus, list)
    if harness.sells_offers:
        assert gpus
    if harness.wrong_key_adapter is not None:
        with pytest.raises(ProviderError) as err:
            harness.wrong_key_adapter().verify()
        assert (err.value.kind, err.value.permanent) == ("auth_failed", True)


def test_an_unreachable_endpoint_raises_provider_errors_only(harness: Harness):
    adapter = harness.unreachable_adapter()
    if adapter is None:
        pytest.skip(f"{harness.kind} has no endpoint")
    for call in (adapter.verify, adapter.list_nodes, lambda: adapter.describe(harness.unknown_ref),
                 lambda: adapter.terminate(harness.unknown_ref), lambda: adapter.provision(harness.make_spec("k"))):
        with pytest.raises(ProviderError) as err:
            call()
        assert err.value.kind == "transient"
