"""Jobs without partners: the body's validation, the templates' command lines in the plan, the worker wrapper's
log streaming, retention, cost in usage, cancel, and the dashboard pages."""

import io
import json
import os
import shutil
import subprocess
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml
from django.utils import timezone

from jobs.api.jobs import JobRequestSerializer
from jobs.inputs import JOB_FIELDS, PLACEMENT_FIELDS
from jobs.models import Job, JobLogChunk, JobRun
from jobs.plans import JOB_SPEC_FILE, job_workload
from jobs.services.jobs import job_cancel, job_reconcile
from jobs.services.logs import log_text, logs_prune
from marketplace.models import Rental, RentalState
from nim_launcher.agent import cli as agent_cli
from nim_launcher.agent.job_runner import LogStreamer, fill
from nim_launcher.plans.cloud_init import render_node_plan
from nim_launcher.plans.context import AgentDownload, NodeContext

OK_BODY = {"name": "train", "command": ["python", "train.py"], "workers": 2}


@pytest.mark.parametrize(("body", "field"), [
    ({**OK_BODY, "template": "horovod"}, "template"),
    ({**OK_BODY, "workers": 0}, "workers"),
    ({**OK_BODY, "env": {"GPUB_JOB_ID": "1"}}, "env.GPUB_JOB_ID"),
    ({**OK_BODY, "env": {"MASTER_ADDR": "10.0.0.1"}}, "env.MASTER_ADDR"),
    ({**OK_BODY, "env": {"TOKEN": {"secret": "aws_key"}}}, "env.TOKEN"),
    ({**OK_BODY, "command": "python train.py"}, "command"),
    ({**OK_BODY, "command": ["python", 3]}, "command"),
    ({"name": "empty"}, "command"),
    ({**OK_BODY, "nodes": 2}, "nodes"),
    ({**OK_BODY, "gpu": "NOT-A-GPU"}, "gpu"),
    ({**OK_BODY, "max_retries": -1}, "max_retries"),
    ({**OK_BODY, "policy": {"countries": ["XX"]}}, "policy.countries"),
])
def test_bad_bodies_get_400_naming_the_field(owner, body, field):
    response = owner.client.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_the_request_schema_names_exactly_the_fields_the_parser_reads():
    assert set(JobRequestSerializer().fields) == {*JOB_FIELDS, *PLACEMENT_FIELDS}


def _plan(template: str, index: int, *, image: str = "") -> tuple[dict, dict]:
    job = Job(pk=41, name="train", template=template, workers=2, command=["train.py", "--epochs", "3"],
              image=image, env={"WANDB_MODE": "offline"})
    workload = job_workload(job, JobRun(restart=1), index, nproc_per_node=8)
    ctx = NodeContext(node_id=7, node_token="gpub_node_SECRET", broker_url="https://broker.test",
                      agent=AgentDownload(url="https://broker.test/agent.pyz", sha256="ab" * 32))
    plan = yaml.safe_load(render_node_plan(ctx, workload))
    files = {f["path"]: f["content"] for f in plan["write_files"]}
    return json.loads(files[JOB_SPEC_FILE]), files


def test_torchrun_meets_at_worker_0_with_the_rendezvous_environment():
    spec, files = _plan("torchrun", 1, image="nvcr.io/nvidia/pytorch:24.05-py3")
    argv = spec["argv"]
    assert argv[:2] == ["docker", "run"] and "--network" in argv and "nvcr.io/nvidia/pytorch:24.05-py3" in argv
    torchrun = argv[argv.index("nvcr.io/nvidia/pytorch:24.05-py3") + 1:]
    assert torchrun == ["torchrun", "--nnodes=$NNODES", "--nproc-per-node=$NPROC_PER_NODE", "--node-rank=$NODE_RANK",
                        "--rdzv-id=$GPUB_JOB_ID", "--rdzv-backend=c10d", "--rdzv-endpoint=$MASTER_ADDR:$MASTER_PORT",
                        "train.py", "--epochs", "3"]
    rendezvous = {"NNODES": "2", "NPROC_PER_NODE": "8", "NODE_RANK": "1", "GPUB_JOB_ID": "41",
                  "MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29500"}
    assert fill(torchrun, rendezvous)[1:7] == ["--nnodes=2", "--nproc-per-node=8", "--node-rank=1", "--rdzv-id=41",
                                               "--rdzv-backend=c10d", "--rdzv-endpoint=10.1.2.3:29500"]
    env = files["/etc/gpu-broker/job.env"]
    for line in ("GPUB_JOB_ID=41", "GPUB_JOB_NAME=train", "GPUB_WORKER_INDEX=1", "GPUB_WORKERS=2",
                 "GPUB_RESTART_COUNT=1", "NNODES=2", "NODE_RANK=1", "NPROC_PER_NODE=8", "WANDB_MODE=offline"):
        assert line in env.splitlines()
    unit = files["/etc/systemd/system/gpu-broker-job.service"]
    assert "EnvironmentFile=/etc/gpu-broker/agent.env" in unit and " job --spec " in unit
    assert "gpub_node_SECRET" not in env + unit + json.dumps(spec)  # the token stays in the agent's env file


def test_mpi_runs_mpirun_over_the_hostfile_on_worker_0_only():
    spec, _ = _plan("mpi", 0)
    assert spec["argv"][:9] == ["mpirun", "--allow-run-as-root", "--hostfile", "$HOSTFILE", "-np", "$WORLD_SIZE",
                                "--npernode", "$NPROC_PER_NODE", "-x"]
    assert spec["argv"][-3:] == ["train.py", "--epochs", "3"] and spec["template"] == "mpi"
    assert _plan("mpi", 1)[0]["argv"] == []  # a host of mpirun's ranks runs nothing itself


def test_every_template_renders_a_plan_cloud_init_accepts(tmp_path):
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        pytest.skip("needs the cloud-init binary (apt-get install cloud-init)")
    job = Job(pk=1, name="t", template="torchrun", workers=2, command=["x.py"], image="img", env={})
    ctx = NodeContext(node_id=1, node_token="t", broker_url="https://b.test",
                      agent=AgentDownload(url="https://b.test/a.pyz", sha256="ab" * 32))
    path = tmp_path / "plan.yaml"
    path.write_text(render_node_plan(ctx, job_workload(job, JobRun(restart=0), 0, nproc_per_node=1)))
    result = subprocess.run([cloud_init, "schema", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_agent_dispatches_the_job_verb_to_the_wrapper(tmp_path, capsys):
    with pytest.raises(SystemExit):
        agent_cli.main(["job", "--help"])
    assert "--spec" in capsys.readouterr().out


def test_slow_broker_backpressures_the_worker_and_every_byte_arrives_in_order():
    """A bounded queue: the reader stops while the sender is slow; at EOF everything is sent, tail included."""
    read_fd, write_fd = os.pipe()
    sent: list[tuple[int, str]] = []

    def send(seq, text):
        time.sleep(0.01)  # a slow broker
        sent.append((seq, text))

    streamer = LogStreamer(read_fd, send, chunk_bytes=1024, queue_chunks=2).start()
    payload = "".join(f"line {i} é\n" for i in range(5000))
    written = []

    def write():
        with os.fdopen(write_fd, "wb") as pipe:
            for start in range(0, len(payload.encode()), 700):
                pipe.write(payload.encode()[start:start + 700])
                pipe.flush()
                written.append(streamer.queue.qsize())

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(30)
    streamer.close()
    os.close(read_fd)
    assert max(written) <= 2  # never more than the bound waits in memory
    assert [seq for seq, _ in sent] == list(range(len(sent)))
    assert "".join(text for _, text in sent) == payload  # the tail too, and é split across chunks intact
    assert all(len(text.encode()) <= 1024 + 3 for _, text in sent)  # + a character split at the last cut


def _job(owner, **fields) -> Job:
    return Job.objects.create(workspace=owner.workspace, name="j", command=["true"], workers=2,
                              request={"nodes": 2}, **fields)


def test_logs_of_several_workers_are_prefixed_and_retention_deletes_them(owner):
    job = _job(owner, state="succeeded", ended_at=timezone.now() - timedelta(days=8))
    JobLogChunk.objects.create(job=job, restart=0, worker=0, seq=0, data="a\nb")
    JobLogChunk.objects.create(job=job, restart=0, worker=1, seq=0, data="x\n")
    JobLogChunk.objects.create(job=job, restart=0, worker=0, seq=1, data="c\n")
    assert "".join(log_text(job)) == "[0] a\n[0] b[1] x\nc\n"
    assert "".join(log_text(job, worker=0, follow=True)) == "a\nbc\n"  # ended: follow returns
    kept = _job(owner, state="succeeded", ended_at=timezone.now() - timedelta(days=1))
    JobLogChunk.objects.create(job=kept, restart=0, worker=0, seq=0, data="kept\n")
    short = _job(owner, state="failed", ended_at=timezone.now() - timedelta(minutes=5), ttl_after_finished_s=60)
    JobLogChunk.objects.create(job=short, restart=0, worker=0, seq=0, data="gone\n")
    assert logs_prune() == 4
    assert list(JobLogChunk.objects.values_list("data", flat=True)) == ["kept\n"]


def test_cancel_terminates_the_nodes_and_ends_cancelled_and_usage_lists_the_job(owner):
    start = timezone.now() - timedelta(hours=2)
    rental = Rental.objects.create(workspace=owner.workspace, request={"nodes": 2}, request_hash="h", nodes_count=2,
                                   state=RentalState.RUNNING, max_hours=Decimal(4), running_since=start,
                                   locked_price_per_hour=Decimal("3.00"))
    job = _job(owner, state="running", started_at=start)
    JobRun.objects.create(job=job, restart=0, rental=rental)
    answer = owner.client.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert answer.status_code == 202 and answer.json()["state"] == "cancelling"
    rental.refresh_from_db()
    assert rental.state == "terminating"
    Rental.objects.filter(pk=rental.pk).update(state=RentalState.TERMINATED, ended_at=start + timedelta(hours=1))
    job_reconcile(job.pk)
    job.refresh_from_db()
    assert job.state == "cancelled" and job_cancel(job, actor="x").state == "cancelled"
    assert owner.client.get(f"/api/v1/jobs/{job.pk}").json()["cost"] == pytest.approx(3.0)
    usage = owner.client.get("/api/v1/usage").json()
    assert {(r["owner_kind"], r["owner"]) for r in usage["rows"]} == {("job", "j")}  # a row per UTC day
    assert sum(r["cost"] for r in usage["rows"]) == pytest.approx(3.0)
    csv = owner.client.get("/api/v1/usage?format=csv").content.decode()
    assert csv.splitlines()[0].endswith("owner_kind,owner") and csv.splitlines()[1].endswith(",job,j")


def test_dashboard_lists_jobs_and_shows_the_log_tail_and_exit_codes(owner, client):
    job = _job(owner, state="failed", exit_code=3)
    JobLogChunk.objects.create(job=job, restart=0, worker=1, seq=0, data="Traceback: boom\n")
    client.force_login(owner.user)
    assert "j" in client.get("/jobs/").content.decode()
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "[1] Traceback: boom" in page and "Exit code" in page
    assert client.get("/jobs/999999/").status_code == 404


def test_other_workspaces_jobs_are_404(owner, stranger):
    job = _job(owner)
    assert stranger.client.get(f"/api/v1/jobs/{job.pk}").status_code == 404
    assert stranger.client.get(f"/api/v1/jobs/{job.pk}/logs").status_code == 404
    assert stranger.client.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 404
    assert owner.client.get(f"/api/v1/jobs/{job.pk}/logs?worker=5").status_code == 400


def test_echoes_go_to_the_nodes_own_log_too():
    read_fd, write_fd = os.pipe()
    echo = io.BytesIO()
    echo.flush = lambda: None
    streamer = LogStreamer(read_fd, lambda seq, text: None, echo=echo).start()
    os.write(write_fd, b"hello\n")
    os.close(write_fd)
    streamer.close()
    os.close(read_fd)
    assert echo.getvalue() == b"hello\n"


@pytest.mark.parametrize(("job", "code"), [
    ({"state": "succeeded", "exit_code": 0}, 0),
    ({"state": "failed", "failure_kind": "worker_exit", "exit_code": 7}, 7),
    ({"state": "failed", "failure_kind": "worker_exit", "exit_code": 137}, 137),
    ({"state": "failed", "failure_kind": "no_capacity"}, 3),
    ({"state": "failed", "failure_kind": "timeout"}, 4),
    ({"state": "failed", "failure_kind": "node_lost"}, 5),
    ({"state": "cancelled"}, 5),
])
def test_brokerctl_exits_with_the_jobs_own_exit_code(job, code):
    from broker.cli.commands.jobs import exit_code

    assert exit_code(job) == code


def test_brokerctl_job_run_builds_the_body_from_every_placement_flag():
    from broker.cli.commands.jobs import job_body
    from broker.cli.main import build_parser

    args = build_parser().parse_args(["job", "run", "--name", "t", "--template", "torchrun", "--workers", "4",
                                      "--gpu", "H100", "--gpus-per-node", "8", "--spot", "--spot-fallback",
                                      "--jurisdiction", "EU",
                                      "--min-gpu-memory", "80", "--max-hours", "2", "--env", "A=1", "--",
                                      "python", "train.py", "--lr", "3e-4"])
    body = job_body(args)
    assert body["command"] == ["python", "train.py", "--lr", "3e-4"] and "nodes" not in body and body["spot_fallback"]
    assert (body["workers"], body["gpus_per_node"], body["spot"], body["policy"]["jurisdictions"]) == (4, 8, True,
                                                                                                        ["EU"])
    assert (body["template"], body["env"], body["max_hours"], body["min_gpu_memory_gb"]) == ("torchrun", {"A": "1"},
                                                                                              2.0, 80)


@pytest.mark.django_db(transaction=True)  # the chunks are read on other threads
def test_followed_logs_stream_under_asgi_too(owner, async_client):
    """Under ASGI the followed log is read chunk by chunk, not gathered first."""
    import asyncio

    from asgiref.sync import sync_to_async

    job = _job(owner, state="running")
    JobLogChunk.objects.create(job=job, restart=0, worker=0, seq=0, data="first\n")

    async def follow():
        response = await async_client.get(f"/api/v1/jobs/{job.pk}/logs?worker=0&follow=1",
                                          headers={"Authorization": f"Bearer {owner.token}"})
        stream = aiter(response.streaming_content)
        first = await asyncio.wait_for(anext(stream), 10)  # arrives while the job still runs
        await sync_to_async(Job.objects.filter(pk=job.pk).update)(state="succeeded")
        return first, [part async for part in stream]

    first, rest = asyncio.run(follow())
    assert first == b"first\n" and rest == []


def _running_run(owner, job: Job, *, restart: int = 0, state: str = RentalState.RUNNING, ran: bool = True) -> Rental:
    start = timezone.now() - timedelta(minutes=30)
    rental = Rental.objects.create(workspace=owner.workspace, request={"nodes": 2}, request_hash=f"h{restart}",
                                   nodes_count=2, state=state, max_hours=Decimal(4),
                                   running_since=start if ran else None, locked_price_per_hour=Decimal("1.00"))
    JobRun.objects.create(job=job, restart=restart, rental=rental)
    return rental


def _end(rental: Rental, state: str, *, actor: str = "reconciliation") -> None:
    """The rental ended by `actor` (through terminating, as an expiry does, when it ends terminated)."""
    Rental.objects.filter(pk=rental.pk).update(state=state, ended_at=timezone.now())
    if state == RentalState.TERMINATED:
        rental.events.create(from_state="running", to_state="terminating", reason="asked", actor=actor)
        actor = "system"
    rental.events.create(from_state="running", to_state=state, reason=f"rental {state}", actor=actor)


def test_a_lost_node_after_the_last_retry_fails_the_job(owner):
    job = _job(owner, state="running", started_at=timezone.now(), max_retries=0)
    _end(_running_run(owner, job), RentalState.FAILED)
    job_reconcile(job.pk)
    job.refresh_from_db()
    assert (job.state, job.failure_kind) == ("failed", "node_lost")


def test_a_restart_that_finds_no_placement_fails_the_job_for_capacity(owner):
    job = _job(owner, state="running", started_at=timezone.now(), max_retries=2)
    _end(_running_run(owner, job), RentalState.PREEMPTED)  # a spot node taken back
    job_reconcile(job.pk)
    job.refresh_from_db()
    assert (job.state, job.restart_count, job.failure_kind) == ("failed", 1, "no_capacity")
    assert [e.to_state for e in job.events.all()][-2:] == ["restarting", "failed"]


def test_a_rental_that_never_ran_fails_the_job_for_capacity_and_max_hours_fail_it_as_a_timeout(owner):
    unplaced = _job(owner, state="provisioning", max_retries=3)
    _end(_running_run(owner, unplaced, ran=False), RentalState.FAILED)
    job_reconcile(unplaced.pk)
    unplaced.refresh_from_db()
    assert unplaced.failure_kind == "no_capacity"

    expired = _job(owner, state="running", started_at=timezone.now(), max_retries=3)
    _end(_running_run(owner, expired), RentalState.TERMINATED, actor="max_hours")
    job_reconcile(expired.pk)
    expired.refresh_from_db()
    assert (expired.state, expired.failure_kind) == ("failed", "timeout")

    long = _job(owner, state="running", started_at=timezone.now() - timedelta(hours=2), max_hours=Decimal(1))
    rental = _running_run(owner, long)
    job_reconcile(long.pk)
    long.refresh_from_db()
    rental.refresh_from_db()
    assert (long.failure_kind, rental.state) == ("timeout", "terminating")  # its nodes go at once


def test_workers_that_never_start_fail_the_job_and_stop_the_nodes(owner, settings):
    settings.PROVISION_TIMEOUT_S = 60
    job = _job(owner, state="provisioning")
    rental = _running_run(owner, job)
    job_reconcile(job.pk)
    job.refresh_from_db()
    rental.refresh_from_db()
    assert (job.state, job.failure_kind, rental.state) == ("failed", "error", "terminating")


def test_a_preemption_notice_is_a_job_event_and_the_job_keeps_running_until_the_node_goes(owner):
    from marketplace.services.preemption import rental_preemption_notice

    job = _job(owner, state="running", started_at=timezone.now(), max_retries=1)
    rental = _running_run(owner, job)
    Rental.objects.filter(pk=rental.pk).update(spot=True)
    at = timezone.now() + timedelta(minutes=2)
    assert rental_preemption_notice(rental, at=at, source="verda")
    job_reconcile(job.pk)
    job.refresh_from_db()
    notice = job.events.get(reason__startswith="preemption notice")
    assert job.state == "running" and f"rental {rental.pk}" in notice.reason and at.isoformat() in notice.reason
    assert "restart 1 of 1" in notice.reason
