"""Jobs end to end: simulated partners boot each node's real cloud-init plan; the test thread does the worker's
job (the rentals pipeline and the job's control loop) so every step is visible."""

import time

from jobs.models import Job, JobRun
from jobs.services.jobs import job_reconcile
from tests.conftest import drive_rental

# Worker 0 listens at MASTER_ADDR:MASTER_PORT, worker 1 connects, sends a number and gets it back doubled.
EXCHANGE = """
import os, socket, sys, time
rank, addr, port = int(os.environ["NODE_RANK"]), os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print(f"worker {rank} of {os.environ['GPUB_WORKERS']} (job {os.environ['GPUB_JOB_NAME']}, restart "
      f"{os.environ['GPUB_RESTART_COUNT']}), master {addr}:{port}", flush=True)
if rank == 0:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((addr, port))
    server.listen(1)
    peer, _ = server.accept()
    number = int(peer.recv(64))
    print(f"worker 0 received {number}", flush=True)
    peer.sendall(str(number * 2).encode())
    peer.close()
else:
    for _ in range(300):
        try:
            peer = socket.create_connection((addr, port), timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("worker 1 never reached worker 0")
    peer.sendall(b"21")
    print(f"worker 1 received {int(peer.recv(64))}", flush=True)
"""
POLICY = {"partners": {"allow": [], "deny": ["lambda"]}}


def job_body(**fields) -> dict:
    return {"name": "exchange", "image": "python:3.12-slim", "command": ["python3", "-c", EXCHANGE],
            "workers": 2, "max_hours": 1, "policy": POLICY, **fields}


def settle(job_id: int, until, timeout: float = 180.0) -> Job:
    """Run the job's control loop and its rentals until `until(job)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rental_id in JobRun.objects.filter(job_id=job_id).values_list("rental_id", flat=True):
            drive_rental(rental_id, rounds=3)
        job_reconcile(job_id)
        job = Job.objects.get(pk=job_id)
        if until(job):
            return job
        time.sleep(0.2)
    job = Job.objects.get(pk=job_id)
    raise AssertionError(f"job stuck in {job.state}: {list(job.events.values_list('reason', flat=True))}")


def drive_until_nodes_gone(job_id: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = set()
        for rental_id in JobRun.objects.filter(job_id=job_id).values_list("rental_id", flat=True):
            states.add(drive_rental(rental_id, rounds=3).state)
        if states <= {"terminated", "failed", "preempted"}:
            return
        time.sleep(0.1)
    raise AssertionError(f"rentals still {states}")
