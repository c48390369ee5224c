"""A NIM deployment end to end on a Yotta-shaped partner: the replica's plan reaches the pod as its
initializationCommand, the NIM runtime serves inside the simulated pod, and the gateway reaches it at the proxy port
Yotta maps the NIM port to (never at the node's address and the NIM port itself)."""

import pytest
import requests

from marketplace.models import Node, Offer, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.services.launch import SSH_PORT
from nim_launcher.gateway import routing
from nim_launcher.models import Replica
from providers.processes import kill_group
from providers.simulator import Faults, SimulatorServer
from providers.simulator.yotta_routes import org_id, proxy_port
from tests.nim_launcher.test_deployments import _chat, settle

BODY = {"name": "chat", "model": "gpu-broker/tiny-cpu-chat", "replicas": {"min": 1, "max": 1},
        "policy": {"partners": {"allow": ["yotta"]}}, "max_hours": 1}


@pytest.fixture
def yotta_live(real_catalog, parsed_catalog, tmp_path, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    nodes_dir = tmp_path / "nodes"
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner == "yotta"], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=7, faults=Faults(), run_user_data=True,
                             runtime_dir=nodes_dir).start()
    Partner.objects.exclude(slug="yotta").update(status=PartnerStatus.SUSPENDED)
    partner = Partner.objects.get(slug="yotta")
    partner.kind, partner.base_url = PartnerKind.YOTTA, server.yotta_url("yotta")
    partner.credentials = {"api_key": "sim-yotta", "org_id": org_id("yotta")}
    partner.adapter_options = {"retries": 0, "poll_s": 0.1}
    partner.status = PartnerStatus.ACTIVE  # as the other live-partner fixtures wire a catalogue partner
    partner.save()
    Offer.objects.filter(partner=partner).update(available_nodes=2)
    bump_catalog_version()
    routing.clear_cache()
    yield server
    server.stop()
    for pid_file in nodes_dir.glob("*.pid"):
        kill_group(nodes_dir, pid_file.stem)


def test_a_replica_on_yotta_is_served_through_the_port_yotta_maps(owner, yotta_live):
    from marketplace.secrets import encrypt_text

    owner.workspace.ngc_api_key_encrypted = encrypt_text("nvapi-e2e-SECRET")
    owner.workspace.save(update_fields=["ngc_api_key_encrypted"])
    response = owner.client.post("/api/v1/deployments", BODY, format="json")
    assert response.status_code == 202, response.content
    deployment = settle(response.json()["id"], lambda d: d.state == "ready", timeout=60)
    replica = Replica.objects.get(deployment=deployment, state="ready")
    node = Node.objects.get(rental=replica.rental, state="running")
    assert node.partner.slug == "yotta"
    stored = next(n for n in yotta_live.store.list_nodes("yotta") if n["name"] == node.provider_ref)
    assert stored["user_data"].startswith("#!/bin/sh\nbash -c 'mkdir -p /root && echo ")  # the pod's command
    served = next(p["port"] for p in stored["ports"] if p["port"] != SSH_PORT)
    assert replica.endpoint == node.endpoint == f"http://{stored['ip']}:{proxy_port(stored['id'], served)}"
    assert node.ssh_port == proxy_port(stored["id"], SSH_PORT)
    with pytest.raises(requests.ConnectionError):  # the pod's port itself is not reachable from outside
        requests.get(f"http://{stored['ip']}:{served}/v1/health/ready", timeout=2)
    answer = _chat(owner)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    assert owner.client.delete(f"/api/v1/deployments/{deployment.pk}").status_code == 202
    settle(deployment.pk, lambda d: d.state == "terminated", timeout=60)
    assert yotta_live.store.list_nodes("yotta") == []
