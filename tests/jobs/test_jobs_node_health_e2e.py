"""On simulated partners: a worker's node the agent reports unhealthy mid-run → restarting → succeeded."""

from rest_framework.test import APIClient

from jobs.models import Job, JobRun
from jobs.services.jobs import job_reconcile
from marketplace.models import Node
from marketplace.services.node_health import node_token
from tests.jobs.conftest import drive_until_nodes_gone, job_body, settle
from tests.jobs.test_jobs_e2e import RESTARTABLE
from tests.marketplace.node_health_helpers import report

FATAL_XID = "GPU 0: Xid 79 (GPU has fallen off the bus)"


def test_a_node_turning_unhealthy_mid_run_restarts_the_job_which_then_succeeds(owner, live_partners):
    job_id = owner.client.post("/api/v1/jobs", job_body(command=["python3", "-c", RESTARTABLE], max_retries=1),
                               format="json").json()["id"]
    job = settle(job_id, lambda j: j.state == "running")
    first = JobRun.objects.get(job=job, restart=0).rental
    node = Node.objects.get(rental=first, index=1, state="running")

    agent = APIClient()  # what the node's agent posts once NVML sees the fatal Xid
    agent.credentials(HTTP_AUTHORIZATION=f"Node {node_token(node)}")
    response = agent.post(f"/api/v1/nodes/{node.pk}/health", report("unhealthy", "reboot", [FATAL_XID]),
                          format="json")
    assert response.status_code == 200 and response.json()["health"] == "unhealthy", response.content
    job_reconcile(job_id)  # what the receiver enqueued

    job = Job.objects.get(pk=job_id)
    assert job.state == "restarting" and job.restart_count == 1
    job = settle(job_id, lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason
    first.refresh_from_db()
    assert first.state in ("terminating", "terminated") and first.events.filter(actor="job").exists()
    second = JobRun.objects.get(job=job, restart=1).rental
    assert second.pk != first.pk and second.request == first.request  # the same request and policy
    drive_until_nodes_gone(job_id)
    events = list(job.events.all())
    states = [e.to_state for e in events if e.from_state and e.from_state != e.to_state]
    assert states == ["provisioning", "running", "restarting", "running", "succeeded"]
    restart = next(e for e in events if e.to_state == "restarting" and e.from_state == "running")
    assert f"node {node.pk}" in restart.reason and FATAL_XID in restart.reason
    logs = b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs?worker=1").streaming_content).decode()
    assert "restart 1" in logs and "worker 1 received 42" in logs
