"""`make run`'s wiring: Shadeform, Vast.ai, Verda, Hyperstack, Google Cloud, Lium, JarvisLabs, Mithril, Nebius, Yotta,
Hyperbolic and Seeweb partners are rented through their own (simulated) API shapes."""

import io

import pytest
from django.core.management import call_command

from marketplace.models import Node, NodeLaunch, Offer, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.services.partners import partner_sync, partner_verify
from providers.simulator import SimulatorServer
from providers.simulator.vast_routes import host_port, vast_id
from providers.simulator.yotta_routes import proxy_port
from tests.conftest import drive_rental

OWN_API = {"shadeform": (PartnerKind.SHADEFORM, "/shadeform/shadeform/v1", "A6000"),
           "vast": (PartnerKind.VAST, "/vast/vast/api/v0", "RTX4090"),
           "verda": (PartnerKind.VERDA, "/verda/verda/v1", "H100"),
           "hyperstack": (PartnerKind.HYPERSTACK, "/hyperstack/hyperstack/v1", "A100-80GB"),
           "gcp": (PartnerKind.GCP, "/gcp/gcp/compute/v1", "A100"),
           "lium": (PartnerKind.LIUM, "/lium/lium/api", "RTX4090"),
           "jarvislabs": (PartnerKind.JARVISLABS, "/jarvislabs/jarvislabs", "L4"),
           "mithril": (PartnerKind.MITHRIL, "/mithril/mithril", "H100"),
           "yotta": (PartnerKind.YOTTA, "/yotta/yotta", "RTX5090"),
           "hyperbolic": (PartnerKind.HYPERBOLIC, "/hyperbolic/hyperbolic", "H100"),
           "seeweb": (PartnerKind.SEEWEB, "/seeweb/seeweb/ecs/v2", "A30"),
           "nebius": (PartnerKind.NEBIUS, None, "H100")}  # None: the gRPC API on a port of its own
SPOT_ONLY = {"mithril"}  # sells spot bids only: rented as spot


@pytest.fixture
def demo(real_catalog, parsed_catalog, tmp_path):
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner in OWN_API], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=5).start()
    call_command("setup_demo", simulator_url=server.url, nebius_url=server.nebius.url, stdout=io.StringIO())
    Partner.objects.exclude(slug__in=OWN_API).update(status=PartnerStatus.SUSPENDED)
    Offer.objects.filter(partner__slug__in=OWN_API).update(available_nodes=2)
    bump_catalog_version()
    yield server
    server.stop()


def test_setup_demo_wires_each_cloud_to_the_simulated_api_of_its_own_shape(demo):
    for slug, (kind, path, _) in OWN_API.items():
        partner = Partner.objects.get(slug=slug)
        assert (partner.kind, partner.base_url) == (kind, f"{demo.url}{path}" if path else demo.nebius.url)
        assert partner.node_launch == NodeLaunch.CLOUD_INIT and partner.status == PartnerStatus.ACTIVE


@pytest.mark.parametrize("slug", sorted(OWN_API))
def test_verify_and_sync_go_through_the_vendor_api(demo, slug):
    partner = Partner.objects.get(slug=slug)
    assert partner_verify(partner=partner)["ok"] is True
    report = partner_sync(partner=partner)
    assert report.ok and not report.skipped and report.created + report.updated + report.unchanged > 0


@pytest.mark.parametrize("slug", sorted(OWN_API))
def test_a_rental_runs_on_a_node_started_through_the_vendor_api(owner, demo, slug):
    if slug in SPOT_ONLY:  # the catalogue's placeholder list price is suspect; the live sync replaces it
        partner_sync(partner=Partner.objects.get(slug=slug))
    body = {"gpu": OWN_API[slug][2], "gpus_per_node": 1, "nodes": 1, "max_hours": 1, "spot": slug in SPOT_ONLY,
            "policy": {"partners": {"allow": [slug]}}}
    response = owner.client.post("/api/v1/rentals", body, format="json")
    assert response.status_code == 202, response.content
    rental = drive_rental(response.json()["id"])
    assert rental.state == "running" and rental.partner.slug == slug
    assert len(demo.store.list_nodes(slug)) == 1


@pytest.mark.parametrize("slug, instance_type, region", [("gcp", "a2-highgpu-1g", "us-central1"),
                                                         ("hyperstack", "n3-L40x1", "CANADA-1"),
                                                         ("nebius", "gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1")])
def test_a_price_the_vendor_api_changes_goes_to_the_offers_history(demo, slug, instance_type, region):
    partner = Partner.objects.get(slug=slug)
    partner_sync(partner=partner)
    offer = Offer.objects.get(partner=partner, instance_type=instance_type, region__code=region)
    before = offer.price_history.count()
    demo.store.set_price(slug, instance_type, float(offer.price_per_hour) * 2)
    report = partner_sync(partner=partner)
    offer.refresh_from_db()
    assert report.ok and report.price_changes >= 1 and offer.price_history.count() == before + 1


def test_a_spot_only_partner_lists_no_on_demand_price_and_only_spot_requests_match_it(owner, demo):
    partner = Partner.objects.get(slug="mithril")
    assert partner_sync(partner=partner).ok
    offers = list(Offer.objects.filter(partner=partner))
    assert offers and all(o.price_per_hour is None and o.spot_price_per_hour > 0 for o in offers)
    assert {o.price_status for o in offers} == {"ok"}  # judged by the spot price, not flagged for lacking one
    body = {"gpu": "H100", "gpus_per_node": 1, "nodes": 1, "policy": {"partners": {"allow": ["mithril"]}}}
    on_demand = owner.client.post("/api/v1/match", {**body, "spot": False}, format="json").json()
    assert on_demand["placements"] == [] and on_demand["explanation"]["excluded"]["no_price"] >= 1
    spot = owner.client.post("/api/v1/match", {**body, "spot": True}, format="json").json()
    assert spot["placements"] and all(p["spot"] for p in spot["placements"])


def test_a_yotta_node_is_reached_at_the_ports_yotta_maps(owner, demo):
    """Yotta maps a pod's ports to proxy ports on a host: the node's SSH port and service endpoint are those."""
    body = {"gpu": "RTX5090", "gpus_per_node": 1, "nodes": 1, "max_hours": 1, "policy": {"partners": {"allow": ["yotta"]}}}
    response = owner.client.post("/api/v1/rentals", body, format="json")
    assert response.status_code == 202, response.content
    rental = drive_rental(response.json()["id"])
    assert rental.state == "running"
    node = Node.objects.get(rental=rental)
    stored = demo.store.list_nodes("yotta")[0]
    assert (node.provider_ref, node.ip, node.ssh_port) == (stored["name"], stored["ip"], proxy_port(stored["id"], 22))
    served = [p["port"] for p in stored["ports"] if p["protocol"] != "SSH"]
    assert node.endpoint == (f"http://{stored['ip']}:{proxy_port(stored['id'], served[0])}" if served else "")


def test_a_vast_node_is_reached_at_the_outside_ports_vast_maps(owner, demo):
    """Vast maps each published port to an outside port on the host's address: the node's SSH port is 22's."""
    body = {"gpu": "RTX4090", "gpus_per_node": 1, "nodes": 1, "max_hours": 1, "policy": {"partners": {"allow": ["vast"]}}}
    response = owner.client.post("/api/v1/rentals", body, format="json")
    assert response.status_code == 202, response.content
    rental = drive_rental(response.json()["id"])
    assert rental.state == "running"
    node = Node.objects.get(rental=rental)
    stored = demo.store.list_nodes("vast")[0]
    assert (node.provider_ref, node.ip, node.ssh_port) == (str(vast_id(stored["id"])), stored["ip"],
                                                           host_port(stored["id"], 22))
    served = sorted(p["port"] for p in stored["ports"] if p["port"] != 22)
    assert node.endpoint == (f"http://{stored['ip']}:{host_port(stored['id'], served[0])}" if served else "")
