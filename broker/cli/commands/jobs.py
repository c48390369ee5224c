"""`job run`, `job logs`, `job list`, `job cancel`: batch jobs for CI (DESIGN §11)."""

import argparse
import sys
from typing import Any

from broker.cli.commands.common import add_idempotency_option, idempotency_key
from broker.cli.context import Context
from broker.cli.errors import ExitCode, UsageError
from broker.cli.output import emit, emit_json, money, render_table
from broker.cli.placement import (
    INTERCONNECTS,
    add_policy_options,
    add_shape_options,
    placement_request,
    positive_float,
    positive_int,
)

JOBS = "/api/v1/jobs"
TEMPLATES = ("none", "torchrun", "mpi")
# A failed job's kind → brokerctl's exit code (a worker's own code when a worker failed it).
FAILURE_EXIT = {"no_capacity": ExitCode.NO_CAPACITY, "timeout": ExitCode.TIMEOUT}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    job = subparsers.add_parser("job", parents=[common], help="run batch jobs on rented GPU nodes",
                                description="Batch jobs: run a command to completion on gang-placed nodes that "
                                            "exist only while it runs.")
    verbs = job.add_subparsers(dest="job_command", metavar="VERB", required=True)

    run = verbs.add_parser(
        "run", parents=[common], help="start a job (and with --wait, follow it to its end)",
        description="Start a job (POST /api/v1/jobs) with the command after `--`. With --wait, stream its logs to "
                    "stdout and exit with the job's exit code: 0 succeeded, the failing worker's own code, 3 no "
                    "capacity, 4 max hours reached, 5 any other failure or cancelled.")
    run.add_argument("--name", default="job", help="job name (a slug; default job)")
    run.add_argument("--image", help="container image the command runs in (default: on the node itself)")
    run.add_argument("--template", choices=TEMPLATES, default="none",
                     help="none (the command on every worker), torchrun (torchrun on every worker), "
                          "mpi (mpirun over all workers from worker 0)")
    run.add_argument("--workers", type=positive_int, default=1, metavar="N", help="nodes, gang-placed (default 1)")
    run.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment (repeatable)")
    run.add_argument("--max-retries", type=non_negative_int, default=0, metavar="N",
                     help="restarts after a lost or preempted node (default 0)")
    run.add_argument("--max-hours", type=positive_float, metavar="H", help="time limit (default: the broker's, 24)")
    add_shape_options(run, nodes=False)
    shape = run.add_argument_group("node shape (every worker's node)")
    shape.add_argument("--gpus-per-node", type=positive_int, default=1, metavar="N", help="GPUs per node (default 1)")
    shape.add_argument("--interconnect", choices=INTERCONNECTS, help="minimum interconnect: pcie < nvlink < infiniband")
    shape.add_argument("--spot", action="store_true", help="spot capacity (cheaper; a preempted run restarts)")
    shape.add_argument("--spot-fallback", action="store_true",
                       help="with --spot: on-demand capacity when no spot placement is left")
    run.set_defaults(nodes=1)
    add_policy_options(run)
    add_idempotency_option(run)
    run.add_argument("--wait", action="store_true", help="stream the logs and exit with the job's exit code")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command, after --")
    run.set_defaults(handler=job_run_command)

    logs = verbs.add_parser("logs", parents=[common], help="print a job's logs",
                            description="Print a job's logs; --follow streams them until the job ends.")
    logs.add_argument("id", metavar="ID", help="job id")
    logs.add_argument("--worker", type=non_negative_int, metavar="N", help="one worker's output (default: all)")
    logs.add_argument("--follow", "-f", action="store_true", help="stream until the job ends")
    logs.set_defaults(handler=job_logs_command)

    listing = verbs.add_parser("list", parents=[common], help="list this workspace's jobs",
                               description="List jobs, newest first.")
    listing.add_argument("--state", metavar="STATE", help="only jobs in this state, e.g. running")
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N jobs (default 50)")
    listing.set_defaults(handler=job_list_command)

    cancel = verbs.add_parser("cancel", parents=[common], help="cancel a job (its nodes are terminated)",
                              description="Cancel a job: it ends `cancelled` once its nodes are terminated.")
    cancel.add_argument("id", metavar="ID", help="job id")
    cancel.set_defaults(handler=job_cancel_command)


def non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def job_body(args: argparse.Namespace) -> dict[str, Any]:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv and not args.image:
        raise UsageError("give the command after --, e.g. brokerctl job run --gpu H100 -- python train.py")
    env = {}
    for item in args.env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"--env takes NAME=VALUE, got {item!r}")
        env[name] = value
    request = placement_request(args)
    request.pop("nodes", None)
    body = {**request, "name": args.name, "template": args.template, "workers": args.workers,
            "max_retries": args.max_retries, "env": env}
    if argv:
        body["command"] = argv
    if args.image:
        body["image"] = args.image
    if args.max_hours:
        body["max_hours"] = args.max_hours
    return body


def job_run_command(ctx: Context) -> int:
    key = idempotency_key(ctx.args)
    job = ctx.client().post(JOBS, job_body(ctx.args), idempotency_key=key)
    ctx.progress.note(f"job {job.get('id')}: {job.get('state')} (idempotency key {key})")
    if not ctx.args.wait:
        show_job(ctx, job)
        return 0
    stream_logs(ctx, job["id"], worker=None)
    job = ctx.client().get(f"{JOBS}/{job['id']}")
    ctx.progress.note(f"job {job.get('id')}: {job.get('state')}"
                      + (f" ({job['failure_reason']})" if job.get("failure_reason") else ""))
    if ctx.json:
        emit_json(job)
    return exit_code(job)


def exit_code(job: dict) -> int:
    """0 succeeded; the worker's code when a worker failed the job; 3 no capacity; 4 timeout; else 5."""
    if job.get("state") == "succeeded":
        return 0
    if job.get("failure_kind") == "worker_exit" and job.get("exit_code"):
        return int(job["exit_code"]) & 0xFF or int(ExitCode.FAILED)
    return int(FAILURE_EXIT.get(job.get("failure_kind"), ExitCode.FAILED))


def stream_logs(ctx: Context, job_id, *, worker: int | None, follow: bool = True) -> None:
    params: dict[str, Any] = {"follow": "1"} if follow else {}
    if worker is not None:
        params["worker"] = worker
    client = ctx.client()
    response = client.request("GET", f"{JOBS}/{job_id}/logs", params=params, stream=True,
                              headers={"Accept": "text/plain"})
    response.encoding = "utf-8"
    out = sys.stdout if not ctx.json else sys.stderr  # --json keeps stdout for the job's JSON
    for text in response.iter_content(chunk_size=None, decode_unicode=True):
        out.write(text)
        out.flush()


def job_logs_command(ctx: Context) -> int:
    stream_logs(ctx, job_id_arg(ctx.args.id), worker=ctx.args.worker, follow=ctx.args.follow)
    return 0


JOB_COLUMNS = [
    ("ID", lambda j: j.get("id")),
    ("NAME", lambda j: j.get("name")),
    ("STATE", lambda j: j.get("state")),
    ("WORKERS", lambda j: j.get("workers")),
    ("TEMPLATE", lambda j: j.get("template")),
    ("EXIT", lambda j: "-" if j.get("exit_code") is None else j.get("exit_code")),
    ("RESTARTS", lambda j: j.get("restart_count")),
    ("COST", lambda j: money(j.get("cost"))),
    ("CREATED", lambda j: j.get("created_at")),
]


def job_list_command(ctx: Context) -> int:
    params: dict[str, Any] = {"page_size": max(1, min(ctx.args.limit, 500))}
    if ctx.args.state:
        params["state"] = ctx.args.state
    jobs = list(ctx.client().paginate(JOBS, params, limit=ctx.args.limit))
    if ctx.json:
        emit_json(jobs)
    else:
        emit(render_table(jobs, JOB_COLUMNS) if jobs else "no jobs")
    return 0


def job_cancel_command(ctx: Context) -> int:
    job = ctx.client().post(f"{JOBS}/{job_id_arg(ctx.args.id)}/cancel")
    show_job(ctx, job)
    return 0


def show_job(ctx: Context, job: dict) -> None:
    if ctx.json:
        emit_json(job)
        return
    lines = [f"job {job.get('id')} {job.get('name')}: {job.get('state')}",
             f"  workers: {job.get('workers')} ({job.get('template')}), restarts {job.get('restart_count')} of "
             f"{job.get('max_retries')}, cost ${money(job.get('cost'))}"]
    for worker in job.get("worker_list") or []:
        code = "running" if worker.get("exit_code") is None else f"exit {worker['exit_code']}"
        lines.append(f"  worker {worker.get('index')} (run {worker.get('restart')}): {code}")
    if job.get("failure_reason"):
        lines.append(f"  reason:  {job['failure_reason']}")
    emit("\n".join(lines))


def job_id_arg(value: str) -> str:
    if not value.isdigit():
        raise UsageError(f"job ID must be a number, got {value!r}")
    return value
