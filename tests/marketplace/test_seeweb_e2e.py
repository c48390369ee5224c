"""A one-node job on Seeweb as `make run` wires it: the Seeweb-shaped API creates the server (it takes no user data),
the broker logs in as `ecuser` with the partner's key and starts the node's plan over SSH, the agent the plan installs
heartbeats and the worker succeeds."""

import io

import pytest
from django.core.management import call_command

from jobs.models import JobRun
from marketplace.models import Offer, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from providers.processes import kill_group
from providers.simulator import SimulatorServer
from providers.simulator.seeweb_routes import SSH_PORT
from tests.jobs.conftest import drive_until_nodes_gone, settle

SLUG = "seeweb"


@pytest.fixture
def seeweb(real_catalog, parsed_catalog, tmp_path, live_server, settings):
    """The catalogue's Seeweb plans on the simulator, whose servers run what SSH sessions start; setup_demo wires
    every partner, and all but Seeweb are suspended."""
    from nim_launcher.gateway import routing

    settings.PUBLIC_BASE_URL = live_server.url
    nodes_dir = tmp_path / "nodes"
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner == SLUG], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=11, run_user_data=True,
                             runtime_dir=nodes_dir).start()
    call_command("setup_demo", simulator_url=server.url, nebius_url=server.nebius.url, stdout=io.StringIO())
    Partner.objects.exclude(slug=SLUG).update(status=PartnerStatus.SUSPENDED)
    Offer.objects.filter(partner__slug=SLUG).update(available_nodes=2)
    bump_catalog_version()
    routing.clear_cache()
    yield server
    server.stop()
    for pid_file in nodes_dir.glob("*.pid"):  # what the test did not terminate
        kill_group(nodes_dir, pid_file.stem)


def test_a_job_on_seeweb_gets_its_plan_over_ssh_as_ecuser_heartbeats_and_succeeds(owner, seeweb):
    partner = Partner.objects.get(slug=SLUG)
    assert (partner.kind, partner.adapter_options["ssh_port"]) == (PartnerKind.SEEWEB, SSH_PORT)
    body = {"name": "hello", "image": "python:3.12-slim", "workers": 1, "max_hours": 1, "gpu": "A30",
            "command": ["python3", "-c", "print('hello from seeweb', flush=True)"],
            "policy": {"partners": {"allow": [SLUG]}}}
    response = owner.client.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 202, response.content
    job = settle(response.json()["id"], lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason

    rental = JobRun.objects.get(job=job).rental
    assert rental.partner.slug == SLUG
    node = rental.nodes.get(attempt__outcome="succeeded")
    server = next(n for n in seeweb.store.list_nodes(SLUG, include_terminated=True) if n["name"] == node.provider_ref)
    assert server["user_data"] == "" and server["ip"] == node.ip  # the create call carried no plan
    assert node.plan_delivered_at is not None and node.ssh_host_key.startswith("SHA256:")
    assert [e.reason for e in node.events.all() if "delivered over SSH" in e.reason] == [
        f"launch plan delivered over SSH to ecuser@{node.ip}:{SSH_PORT} (host key {node.ssh_host_key}, trusted from "
        "now on)"]
    assert node.last_heartbeat_at is not None  # its agent reached the broker
    logs = b"".join(owner.client.get(f"/api/v1/jobs/{job.pk}/logs?worker=0").streaming_content).decode()
    assert "hello from seeweb" in logs
    drive_until_nodes_gone(job.pk)
    assert seeweb.store.list_nodes(SLUG) == []
