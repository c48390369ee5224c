"""A NIM deployment end to end on partners that map a node's ports to outside ports of their own (Yotta's proxy
ports, Vast's published ports): the replica's plan reaches the node as its startup command, the NIM runtime serves
inside the simulated node, and the gateway reaches it at the port the partner maps the NIM port to (never at the
node's address and the NIM port itself)."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests

from marketplace.models import Node, Offer, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.services.launch import SSH_PORT
from nim_launcher.gateway import routing
from nim_launcher.models import Replica
from providers.processes import kill_group
from providers.simulator import Faults, SimulatorServer, vast_routes, yotta_routes
from tests.nim_launcher.test_deployments import _chat, settle


@dataclass(frozen=True)
class Mapping:
    kind: str
    url: Callable[[SimulatorServer], str]
    credentials: dict
    options: dict
    outside_port: Callable[[str, int], int]  # (simulator node id, node port) -> the port reached from outside
    ref: Callable[[dict], str]  # the simulator's node -> the broker's provider_ref
    startup: str  # how the node's startup command begins


MAPPINGS = {
    "yotta": Mapping(PartnerKind.YOTTA, lambda s: s.yotta_url("yotta"),
                     {"api_key": "sim-yotta", "org_id": yotta_routes.org_id("yotta")}, {"retries": 0, "poll_s": 0.1},
                     yotta_routes.proxy_port, lambda n: n["name"], "#!/bin/sh\nbash -c 'mkdir -p /root && echo "),
    "vast": Mapping(PartnerKind.VAST, lambda s: s.vast_url("vast"), {"api_key": "sim-vast"}, {"retries": 0},
                    vast_routes.host_port, lambda n: str(vast_routes.vast_id(n["id"])), "#!/bin/bash\n"),
}


@pytest.fixture(params=sorted(MAPPINGS))
def mapped_live(request, real_catalog, parsed_catalog, tmp_path, live_server, settings):
    slug, mapping = request.param, MAPPINGS[request.param]
    settings.PUBLIC_BASE_URL = live_server.url
    nodes_dir = tmp_path / "nodes"
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner == slug], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=7, faults=Faults(), run_user_data=True,
                             runtime_dir=nodes_dir).start()
    Partner.objects.exclude(slug=slug).update(status=PartnerStatus.SUSPENDED)
    partner = Partner.objects.get(slug=slug)
    partner.kind, partner.base_url = mapping.kind, mapping.url(server)
    partner.credentials = mapping.credentials
    partner.adapter_options = mapping.options
    partner.status = PartnerStatus.ACTIVE  # as the other live-partner fixtures wire a catalogue partner
    partner.save()
    Offer.objects.filter(partner=partner).update(available_nodes=2)
    bump_catalog_version()
    routing.clear_cache()
    yield slug, server
    server.stop()
    for pid_file in nodes_dir.glob("*.pid"):
        kill_group(nodes_dir, pid_file.stem)


def test_a_replica_is_served_through_the_port_its_partner_maps(owner, mapped_live):
    from marketplace.secrets import encrypt_text

    slug, server = mapped_live
    mapping = MAPPINGS[slug]
    owner.workspace.ngc_api_key_encrypted = encrypt_text("nvapi-e2e-SECRET")
    owner.workspace.save(update_fields=["ngc_api_key_encrypted"])
    body = {"name": "chat", "model": "gpu-broker/tiny-cpu-chat", "replicas": {"min": 1, "max": 1},
            "policy": {"partners": {"allow": [slug]}}, "max_hours": 1}
    response = owner.client.post("/api/v1/deployments", body, format="json")
    assert response.status_code == 202, response.content
    deployment = settle(response.json()["id"], lambda d: d.state == "ready", timeout=60)
    replica = Replica.objects.get(deployment=deployment, state="ready")
    node = Node.objects.get(rental=replica.rental, state="running")
    assert node.partner.slug == slug
    stored = next(n for n in server.store.list_nodes(slug) if mapping.ref(n) == node.provider_ref)
    assert stored["user_data"].startswith(mapping.startup)
    served = next(p["port"] for p in stored["ports"] if p["port"] != SSH_PORT)
    assert replica.endpoint == node.endpoint == f"http://{stored['ip']}:{mapping.outside_port(stored['id'], served)}"
    assert node.ssh_port == mapping.outside_port(stored["id"], SSH_PORT)
    with pytest.raises(requests.ConnectionError):  # the node's port itself is not reachable from outside
        requests.get(f"http://{stored['ip']}:{served}/v1/health/ready", timeout=2)
    answer = _chat(owner)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    assert owner.client.delete(f"/api/v1/deployments/{deployment.pk}").status_code == 202
    settle(deployment.pk, lambda d: d.state == "terminated", timeout=60)
    assert server.store.list_nodes(slug) == []
