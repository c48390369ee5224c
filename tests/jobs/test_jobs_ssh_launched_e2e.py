"""A job on Hyperbolic, whose create call takes no startup script: the broker hands each running node its plan over
SSH (the simulator's sshd, the account's key), the node's agent heartbeats and the workers meet and succeed."""

import pytest

from jobs.models import Job, JobRun
from marketplace.models import Offer, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.services.plan_delivery import node_plan_deliver
from providers.processes import kill_group
from providers.simulator import Faults, SimulatorServer
from providers.simulator.ssh_server import account_private_key
from providers.ssh_launch import deliver_plan
from tests.jobs.conftest import drive_until_nodes_gone, job_body, settle

SLUG = "hyperbolic"


@pytest.fixture
def hyperbolic(real_catalog, parsed_catalog, tmp_path, live_server, settings):
    """The catalogue's Hyperbolic machines on the simulator, which boots nodes that run what SSH sessions start;
    every other partner is suspended."""
    from nim_launcher.gateway import routing

    settings.PUBLIC_BASE_URL = live_server.url
    nodes_dir = tmp_path / "nodes"
    server = SimulatorServer([o for o in parsed_catalog.offers if o.partner == SLUG], capacity=2,
                             state_path=tmp_path / "sim.sqlite3", random_seed=7, faults=Faults(),
                             run_user_data=True, runtime_dir=nodes_dir).start()
    Partner.objects.exclude(slug=SLUG).update(status=PartnerStatus.SUSPENDED)
    partner = Partner.objects.get(slug=SLUG)
    partner.kind, partner.base_url = PartnerKind.HYPERBOLIC, server.hyperbolic_url(SLUG)
    partner.credentials = {"api_key": f"sim-{SLUG}", "ssh_private_key": account_private_key(SLUG)}
    partner.status = PartnerStatus.ACTIVE
    partner.save()
    Offer.objects.filter(partner=partner).update(available_nodes=2)
    bump_catalog_version()
    routing.clear_cache()
    yield server
    server.stop()
    for pid_file in nodes_dir.glob("*.pid"):  # what the test did not terminate
        kill_group(nodes_dir, pid_file.stem)


def test_a_job_on_hyperbolic_gets_its_plan_over_ssh_heartbeats_and_succeeds(owner, hyperbolic):
    body = job_body(policy={"partners": {"allow": [SLUG]}})
    response = owner.client.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 202, response.content
    job = settle(response.json()["id"], lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason

    rental = JobRun.objects.get(job=job).rental
    assert rental.partner.slug == SLUG
    for node in rental.nodes.filter(attempt__outcome="succeeded"):
        assert node.plan_delivered_at is not None and node.ssh_host_key.startswith("SHA256:")
        assert node.last_heartbeat_at is not None  # its agent reached the broker
        delivered = [e.reason for e in node.events.all() if "delivered over SSH" in e.reason]
        assert delivered == [f"launch plan delivered over SSH to ubuntu@{node.ip}:{node.ssh_port} (host key "
                             f"{node.ssh_host_key}, trusted from now on)"]
        assert node_plan_deliver(node.pk)  # a later delivery finds nothing to do
    worker1 = b"".join(owner.client.get(f"/api/v1/jobs/{job.pk}/logs?worker=1").streaming_content).decode()
    assert "worker 1 received 42" in worker1
    drive_until_nodes_gone(job.pk)
    assert hyperbolic.store.list_nodes(SLUG) == []


def test_a_node_that_refuses_the_accounts_key_fails_the_rental_and_is_terminated(owner, hyperbolic):
    partner = Partner.objects.get(slug=SLUG)
    partner.credentials = {"api_key": f"sim-{SLUG}", "ssh_private_key": account_private_key("another-account")}
    partner.save()
    response = owner.client.post("/api/v1/jobs", job_body(workers=1, policy={"partners": {"allow": [SLUG]}}),
                                 format="json")
    job = settle(response.json()["id"], lambda j: j.state == "failed")
    rental = JobRun.objects.filter(job=job).first().rental
    assert rental.state == "failed"
    assert "could not be handed to node" in rental.failure_reason and "auth_failed" in rental.failure_reason
    assert hyperbolic.store.list_nodes(SLUG) == []  # nothing left running at the partner
    assert Job.objects.get(pk=job.pk).state == "failed"


def test_a_node_whose_sshd_never_comes_up_is_tried_a_bounded_number_of_times_then_fails_the_rental(
        owner, hyperbolic, monkeypatch, settings):
    from broker.celery import app
    from marketplace.tasks.rentals import deliver_plan_task
    from tests.providers.conftest import closed_port

    settings.SSH_PLAN_ATTEMPTS, settings.SSH_PLAN_BACKOFF_S, settings.SSH_PLAN_TIMEOUT_S = 3, 0.0, 2.0
    down = closed_port()
    monkeypatch.setattr(hyperbolic.app, "ssh_address", lambda slug, node, user: (node["ip"], down))
    tries = []
    monkeypatch.setattr("marketplace.services.plan_delivery.deliver_plan", _counting(tries, deliver_plan))
    response = owner.client.post("/api/v1/jobs", job_body(workers=1, policy={"partners": {"allow": [SLUG]}}),
                                 format="json")
    job = settle(response.json()["id"], lambda j: JobRun.objects.filter(job=j, rental__state="running").exists())
    node = JobRun.objects.get(job=job).rental.nodes.get(state="running")
    assert node.plan_delivered_at is None
    tries.clear()  # the in-process worker's own tries while settling
    app.conf.task_always_eager = True
    try:
        deliver_plan_task.delay(node.pk)
    finally:
        app.conf.task_always_eager = False
    rental = JobRun.objects.get(job=job).rental
    rental.refresh_from_db()
    assert len(tries) == 3
    assert rental.state == "failed" and "transient" in rental.failure_reason
    assert hyperbolic.store.list_nodes(SLUG) == []


def _counting(tries: list, call):
    def counted(*args, **kwargs):
        tries.append(1)
        return call(*args, **kwargs)

    return counted
