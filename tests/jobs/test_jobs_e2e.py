"""A 2-worker job on simulated partners running the real launch plan: rendezvous, logs, exit codes, restarts."""

import pytest

from broker.cli.main import main
from jobs.models import Job, JobRun
from marketplace.models import Node
from marketplace.services.reconcile import reconcile_all
from tests.jobs.conftest import EXCHANGE, drive_until_nodes_gone, job_body, settle
from tests.marketplace.conftest import SIM_PARTNERS


def _no_node_alive(server) -> bool:
    return all(server.store.list_nodes(slug) == [] for slug in SIM_PARTNERS)


def test_two_workers_meet_at_master_addr_exchange_a_number_and_succeed(owner, live_partners):
    response = owner.client.post("/api/v1/jobs", job_body(), format="json", HTTP_IDEMPOTENCY_KEY="ci-1")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    again = owner.client.post("/api/v1/jobs", job_body(), format="json", HTTP_IDEMPOTENCY_KEY="ci-1")
    assert again.status_code == 200 and again.json()["id"] == job_id

    job = settle(job_id, lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason
    drive_until_nodes_gone(job_id)
    assert _no_node_alive(live_partners)

    detail = owner.client.get(f"/api/v1/jobs/{job_id}").json()
    assert detail["exit_code"] == 0
    assert [(w["index"], w["exit_code"]) for w in detail["worker_list"]] == [(0, 0), (1, 0)]
    assert [e["to"] for e in detail["events"] if e["from"] and e["from"] != e["to"]] == ["provisioning", "running", "succeeded"]
    assert detail["cost"] >= 0 and detail["runs"][0]["rental_state"] == "terminated"
    worker0 = b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs?worker=0").streaming_content).decode()
    worker1 = b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs?worker=1&follow=1").streaming_content).decode()
    assert "worker 0 received 21" in worker0 and "worker 1 received 42" in worker1
    both = b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs").streaming_content).decode()
    assert "[0] worker 0 received 21" in both and "[1] worker 1 received 42" in both

    # the rendezvous environment every worker got, and what the node was sent
    rental = JobRun.objects.get(job_id=job_id).rental
    node0 = rental.nodes.get(index=0, attempt__outcome="succeeded")
    assert f"master {node0.ip}:29500" in worker1
    plan = owner.client.get(f"/api/v1/rentals/{rental.pk}/launch-plan").json()["nodes"][0]["launch_plan"]
    assert "gpu-broker-job.service" in plan and "GPUB_WORKER_INDEX=" in plan


# Worker 0 succeeds at once; worker 1 fails a moment later (so worker 0's output is in before the job ends).
FAIL = "import os, sys, time; rank = os.environ['NODE_RANK']; print('worker', rank, 'fails' if rank == '1' else 'ok'); " \
       "rank == '1' and time.sleep(1); sys.exit(7 if rank == '1' else 0)"


def test_a_worker_exiting_non_zero_fails_the_job_with_its_code_and_stops_every_node(owner, live_partners):
    response = owner.client.post("/api/v1/jobs", job_body(command=["python3", "-c", FAIL], image=None),
                                 format="json")
    assert response.status_code == 400 and "image" in response.json()["errors"]
    body = job_body(command=["python3", "-c", FAIL])
    del body["image"]  # no image: the command runs on the node itself
    job_id = owner.client.post("/api/v1/jobs", body, format="json").json()["id"]
    job = settle(job_id, lambda j: j.state == "failed")
    assert (job.exit_code, job.failure_kind) == (7, "worker_exit")
    drive_until_nodes_gone(job_id)
    assert _no_node_alive(live_partners)
    assert "worker 1 fails" in b"".join(
        owner.client.get(f"/api/v1/jobs/{job_id}/logs?worker=1").streaming_content).decode()


# The first run waits (until its node is killed); the restart exchanges the number.
RESTARTABLE = "import os, time\nif os.environ['GPUB_RESTART_COUNT'] == '0':\n    print('run 0 waits', flush=True)\n" \
              "    time.sleep(600)\n" + EXCHANGE


def test_a_worker_node_killed_mid_run_restarts_the_job_on_a_fresh_placement(owner, live_partners):
    body = job_body(command=["python3", "-c", RESTARTABLE], max_retries=1)
    job_id = owner.client.post("/api/v1/jobs", body, format="json").json()["id"]
    job = settle(job_id, lambda j: j.state == "running")
    first = JobRun.objects.get(job=job, restart=0).rental
    node = Node.objects.get(rental=first, index=1, state="running")
    live_partners.store.fail_node(node.partner.slug, node.provider_ref)  # the partner loses the node
    live_partners.app.node_stopped(node.provider_ref)
    reconcile_all()

    job = settle(job_id, lambda j: j.state != "running")
    assert job.state == "restarting" and job.restart_count == 1
    job = settle(job_id, lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason
    second = JobRun.objects.get(job=job, restart=1).rental
    assert second.pk != first.pk and second.request == first.request  # the same request and policy
    drive_until_nodes_gone(job_id)
    assert _no_node_alive(live_partners)
    states = [e.to_state for e in Job.objects.get(pk=job_id).events.all() if e.from_state and e.from_state != e.to_state]
    assert states == ["provisioning", "running", "restarting", "running", "succeeded"]
    logs = b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs?worker=1").streaming_content).decode()
    assert "restart 1" in logs and "worker 1 received 42" in logs


def test_brokerctl_job_run_wait_streams_the_logs_and_exits_with_the_failing_workers_code(owner, live_partners,
                                                                                         capsys, live_server):
    """CI's view: `brokerctl job run --wait` while the worker process (here: this thread) runs the pipeline."""
    import threading

    result = {}

    def run_cli():
        result["code"] = main(["--url", live_server.url, "--api-key", owner.token, "job", "run", "--name", "ci",
                               "--workers", "2", "--min-gpu-memory", "1", "--deny-partner", "lambda",
                               "--max-hours", "1", "--wait", "--", "python3", "-c", FAIL])

    thread = threading.Thread(target=run_cli)
    thread.start()
    deadline = 50
    while not Job.objects.filter(name="ci").exists() and deadline:
        thread.join(0.2)
        deadline -= 1
    job = settle(Job.objects.get(name="ci").pk, lambda j: j.state == "failed")
    thread.join(60)
    assert not thread.is_alive()
    out, err = capsys.readouterr()
    assert result["code"] == 7 == job.exit_code, err
    assert "[1] worker 1 fails" in out and "[0] worker 0 ok" in out
    drive_until_nodes_gone(job.pk)
    assert _no_node_alive(live_partners)


TORCH_WORKER = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
print(f"rank {dist.get_rank()} of {dist.get_world_size()}: sum {value.item()}", flush=True)
dist.destroy_process_group()
"""


def test_a_torchrun_job_with_the_gloo_backend_all_reduces_across_workers(owner, live_partners):
    import shutil

    from providers.simulator.node_shims import BASE_PATH

    if shutil.which("torchrun", path=BASE_PATH) is None:
        pytest.skip("needs torch (torchrun on the node's PATH)")
    body = job_body(template="torchrun", command=["--no-python", "python3", "-c", TORCH_WORKER])
    body.pop("image")  # torchrun as installed on the node
    job_id = owner.client.post("/api/v1/jobs", body, format="json").json()["id"]
    job = settle(job_id, lambda j: j.state in ("succeeded", "failed"))
    assert job.state == "succeeded", job.failure_reason
    logs = b"".join(owner.client.get(f"/api/v1/jobs/{job_id}/logs").streaming_content).decode()
    assert "of 2: sum 3.0" in logs
    drive_until_nodes_gone(job_id)
