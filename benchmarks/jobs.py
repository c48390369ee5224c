"""Batch jobs end to end on simulated partners: request → running, job end → its nodes terminated, and a spot
job's recovery from a preemption.

Each job has 2 workers whose nodes boot the real cloud-init plan (agent download from this broker, the
`job` verb's rendezvous through the broker, the command in the simulated container) and exchange a number
over TCP at MASTER_ADDR:MASTER_PORT. This process serves the broker (threaded WSGI, SQLite) and does the
worker's part in-process, polling every --poll seconds, as `tests/jobs` do.

`--spot N` adds N spot jobs (max_retries 1) whose first run waits until worker 1's node is preempted by the
partner (simulator control call) mid-run; the worker's part also runs the spot watch every SPOT_WATCH_S, as beat
does. Recovery time: the preemption second (where billing stops) → the job `running` again on its new rental.

Run: .venv/bin/python -m benchmarks.jobs [--jobs 3] [--spot 0] [--poll 0.2]. Prints JSON (seconds).
"""

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

SIM_PARTNERS = ("nebius", "verda", "seeweb", "hyperstack")
WORKER = """
import os, socket, time
rank, addr, port = int(os.environ["NODE_RANK"]), os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
if rank == 0:
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((addr, port)); server.listen(1); peer, _ = server.accept()
    peer.sendall(str(int(peer.recv(64)) * 2).encode()); print("worker 0 served", flush=True)
else:
    for _ in range(300):
        try:
            peer = socket.create_connection((addr, port), timeout=2); break
        except OSError:
            time.sleep(0.1)
    peer.sendall(b"21"); print("worker 1 received", peer.recv(64).decode(), flush=True)
"""

# The first run waits to be preempted; the restart says which run it is and succeeds.
SPOT_WORKER = """
import os, time
print("worker", os.environ["NODE_RANK"], "GPUB_RESTART_COUNT=" + os.environ["GPUB_RESTART_COUNT"], flush=True)
if os.environ["GPUB_RESTART_COUNT"] == "0":
    time.sleep(600)
"""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(tmp: Path) -> None:
    os.environ.update({"DJANGO_SETTINGS_MODULE": "broker.settings", "DEV_SECRETS": "1",
                       "DATABASE_URL": f"sqlite:///{tmp / 'broker.sqlite3'}", "CELERY_BROKER_URL": "memory://"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _wire(server) -> None:
    from marketplace.models import NodeLaunch, Offer, Partner, PartnerKind, PartnerStatus

    Partner.objects.exclude(slug__in=SIM_PARTNERS).update(status=PartnerStatus.SUSPENDED)
    for partner in Partner.objects.filter(slug__in=SIM_PARTNERS):
        partner.kind, partner.base_url = PartnerKind.PARTNER_API, server.partner_api_url(partner.slug)
        partner.credentials = {"api_key": f"sim-{partner.slug}"}
        partner.node_launch, partner.adapter_options = NodeLaunch.CLOUD_INIT, {"retries": 0}
        partner.status = PartnerStatus.ACTIVE
        partner.save()
    Offer.objects.filter(partner__slug__in=SIM_PARTNERS).update(available_nodes=2)


class _SpotWatch:
    """Beat's spot watch: every `period_s` on its own clock, whenever a preemption happens."""

    def __init__(self, period_s: float):
        self.period_s, self.next_at = period_s, time.monotonic()

    def tick(self) -> None:
        from marketplace.services.preemption import spot_rentals_watch

        if time.monotonic() >= self.next_at:
            spot_rentals_watch()
            self.next_at += self.period_s


def _drive(job_id: int, poll: float, until, timeout: float = 120.0, watch: _SpotWatch | None = None):
    """The worker's part: the job's control loop and its rentals' pipeline, every `poll` seconds (and beat's spot
    watch)."""
    from jobs.models import Job, JobRun
    from jobs.services.jobs import job_reconcile
    from marketplace.models import Rental
    from marketplace.services.rentals import rental_finish_termination, rental_poll, rental_provision

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watch is not None:
            watch.tick()
        for rental in Rental.objects.filter(pk__in=JobRun.objects.filter(job_id=job_id).values("rental_id")):
            if rental.state in ("pending", "provisioning"):
                rental_provision(rental.pk)
                rental_poll(rental.pk)
            elif rental.state == "terminating":
                rental_finish_termination(rental.pk)
        job_reconcile(job_id)
        job = Job.objects.get(pk=job_id)
        if until(job):
            return job
        time.sleep(poll)
    raise RuntimeError(f"job {job_id} stuck in {Job.objects.get(pk=job_id).state}")


def run_one(base: str, key: str, poll: float, sim) -> dict:
    from jobs.models import JobRun

    started = time.time()
    answer = requests.post(f"{base}/api/v1/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=30, json={
        "name": "bench", "image": "python:3.12-slim", "command": ["python3", "-c", WORKER], "workers": 2,
        "max_hours": 1, "policy": {"partners": {"allow": list(SIM_PARTNERS), "deny": []}}})
    answer.raise_for_status()
    job_id = answer.json()["id"]
    job = _drive(job_id, poll, lambda j: j.started_at is not None or j.state in ("succeeded", "failed"))
    running = job.started_at.timestamp() - started if job.started_at else None
    job = _drive(job_id, poll, lambda j: j.state in ("succeeded", "failed", "cancelled"))
    rentals = [run.rental for run in JobRun.objects.filter(job_id=job_id).select_related("rental")]
    _drive(job_id, poll, lambda j: all(type(r).objects.get(pk=r.pk).state in ("terminated", "failed") for r in rentals))
    while any(sim.store.list_nodes(slug) for slug in SIM_PARTNERS):
        time.sleep(0.01)
    gone = time.time()
    return {"state": job.state, "request_to_running_s": running,
            "end_to_nodes_terminated_s": gone - job.ended_at.timestamp()}


def run_spot(base: str, key: str, poll: float, sim, watch: _SpotWatch) -> dict:
    """A 2-worker spot job; worker 1's node preempted once both workers run; the job restarts and succeeds."""
    from jobs.models import JobLogChunk, JobRun

    answer = requests.post(f"{base}/api/v1/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=30, json={
        "name": "bench-spot", "image": "python:3.12-slim", "command": ["python3", "-c", SPOT_WORKER], "workers": 2,
        "spot": True, "max_retries": 1, "max_hours": 1,
        "policy": {"partners": {"allow": list(SIM_PARTNERS), "deny": []}}})
    answer.raise_for_status()
    job_id = answer.json()["id"]
    _drive(job_id, poll, lambda j: j.state in ("succeeded", "failed") or JobLogChunk.objects.filter(
        job_id=job_id, restart=0).values("worker").distinct().count() == 2, watch=watch)
    first = JobRun.objects.select_related("rental").get(job_id=job_id, restart=0).rental
    node = first.nodes.get(index=1, state="running")
    at = time.monotonic() + random.uniform(0, watch.period_s)  # the preemption lands anywhere in the watch's period
    _drive(job_id, poll, lambda j: time.monotonic() >= at, watch=watch)
    requests.post(f"{sim.url}/_control/{node.partner.slug}", json={"preempt": node.provider_ref}, timeout=5)
    job = _drive(job_id, poll, lambda j: j.state in ("succeeded", "failed"), watch=watch)
    first.refresh_from_db()
    again = job.events.filter(from_state="restarting", to_state="running").values_list("at", flat=True).first()
    known = first.events.filter(to_state="preempted").values_list("at", flat=True).first()
    second = JobRun.objects.select_related("rental").filter(job_id=job_id, restart=1).first()
    _drive(job_id, poll, lambda j: all(r.state in ("terminated", "failed", "preempted") for r in
                                       type(first).objects.filter(job_run__job_id=job_id)))
    return {"state": job.state, "restarts": job.restart_count, "spot_first_run": first.spot,
            "recovered_by_spot": bool(second and second.rental.spot and second.rental.replaces_id == first.pk),
            "detection_s": (known - first.ended_at).total_seconds() if known else None,
            "recovery_s": (again - first.ended_at).total_seconds() if again else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--spot", type=int, default=0, help="spot jobs preempted mid-run (recovery time)")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between passes of the worker's part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        _setup(tmp)
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        from marketplace.catalog.importer import import_parsed
        from marketplace.catalog.snapshot import load_snapshot
        from marketplace.services.api_keys import api_key_create, workspace_ensure
        from providers.processes import kill_group
        from providers.simulator import Faults, SimulatorServer

        catalog = load_snapshot()
        import_parsed(catalog)
        port = _free_port()
        settings.PUBLIC_BASE_URL = base = f"http://127.0.0.1:{port}"
        web = make_server("127.0.0.1", port, get_wsgi_application(), server_class=_Server, handler_class=_QuietHandler)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        sim = SimulatorServer([o for o in catalog.offers if o.partner in SIM_PARTNERS], capacity=2,
                              state_path=tmp / "sim.sqlite3", random_seed=7, faults=Faults(), run_user_data=True,
                              runtime_dir=tmp / "nodes").start()
        _wire(sim)
        workspace, user = workspace_ensure(name="bench", owner_email="bench@example.test")
        _, key = api_key_create(workspace=workspace, user=user)
        try:
            runs = [run_one(base, key, args.poll, sim) for _ in range(args.jobs)]
            watch = _SpotWatch(settings.SPOT_WATCH_S)
            spot_runs = [run_spot(base, key, args.poll, sim, watch) for _ in range(args.spot)]
        finally:
            sim.stop()
            web.shutdown()
            for pid_file in (tmp / "nodes").glob("*.pid"):
                kill_group(tmp / "nodes", pid_file.stem)
    result = {"jobs": args.jobs, "workers": 2, "poll_s": args.poll,
              "succeeded": sum(r["state"] == "succeeded" for r in runs)}
    for name in ("request_to_running_s", "end_to_nodes_terminated_s"):
        values = [r[name] for r in runs if r[name] is not None]
        result[name] = {"median": round(statistics.median(values), 2), "max": round(max(values), 2)}
    if spot_runs:
        result["spot"] = {"jobs": args.spot, "preempted": "worker 1's node, mid-run (control call)",
                          "spot_watch_s": settings.SPOT_WATCH_S, "max_retries": 1,
                          "succeeded": sum(r["state"] == "succeeded" for r in spot_runs),
                          "recovered_on_spot": sum(r["recovered_by_spot"] for r in spot_runs)}
        for name in ("detection_s", "recovery_s"):
            values = [r[name] for r in spot_runs if r[name] is not None]
            result["spot"][name] = ({"median": round(statistics.median(values), 2), "max": round(max(values), 2)}
                                    if values else None)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
