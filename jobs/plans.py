"""A job node's launch plan: the broker's agent, then the worker wrapper as `gpu-broker-job.service` (DESIGN §11).

The plan is rendered before any node has an address, so it holds what is known then (the job, this worker's
index, the restart count) and the worker's command line with the rendezvous names as `$NAME` placeholders.
On the node the agent's `job` verb asks the broker for its peers, writes the rendezvous env file, fills the
placeholders, runs the command (in the image's container when there is one), streams its output and
reports its exit code.
"""

from __future__ import annotations

import json
import shlex

from django.conf import settings

from jobs.models import Job, JobRun, JobTemplate
from marketplace.hooks import LaunchPlan
from marketplace.models import Node, NodeLaunch, Rental
from marketplace.secrets import decrypt_text
from nim_launcher.agent import job_runner
from nim_launcher.plans.cloud_init import (
    AGENT_ENV_FILE,
    AGENT_VENV,
    AGENT_ZIPAPP,
    CONFIG_DIR,
    HOME,
    REQUIRE_DOCKER,
    PlanFile,
    Workload,
    render_node_plan,
    secret_env_file,
    systemd_unit,
)
from nim_launcher.plans.context import AgentDownload, NodeContext
from nim_launcher.services.agent_artifact import agent_url, current_agent
from providers.base import INVALID_REQUEST, ProviderError

JOB_ENV_FILE = f"{CONFIG_DIR}/job.env"
JOB_SPEC_FILE = f"{HOME}/job/worker.json"
JOB_STATE_DIR = "/var/lib/gpu-broker-job"
JOB_UNIT = "gpu-broker-job.service"
JOB_CONTAINER = "gpu-broker-job"
SECRET_FIELDS = {"ngc_api_key": "ngc_api_key_encrypted"}  # env {"secret": ref} → the workspace field


def _placeholder(name: str) -> str:
    return f"${name}"


def template_argv(template: str, command: list[str], index: int) -> list[str]:
    """The worker's command line for its template, rendezvous values as `$NAME` placeholders.

    torchrun starts NPROC_PER_NODE processes per node and meets the others at worker 0's address; mpi runs
    `mpirun` over the hostfile on worker 0 only (the other workers host its ranks and run nothing themselves).
    """
    p = _placeholder
    if template == JobTemplate.TORCHRUN:
        return ["torchrun", f"--nnodes={p('NNODES')}", f"--nproc-per-node={p('NPROC_PER_NODE')}",
                f"--node-rank={p('NODE_RANK')}", f"--rdzv-id={p('GPUB_JOB_ID')}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={p('MASTER_ADDR')}:{p('MASTER_PORT')}", *command]
    if template == JobTemplate.MPI:
        if index:
            return []
        forwarded = [arg for name in ("MASTER_ADDR", "MASTER_PORT", "GPUB_JOB_ID", "GPUB_RESTART_COUNT")
                     for arg in ("-x", name)]
        return ["mpirun", "--allow-run-as-root", "--hostfile", p("HOSTFILE"), "-np", p("WORLD_SIZE"),
                "--npernode", p("NPROC_PER_NODE"), *forwarded, *command]
    return list(command)


def worker_argv(job: Job, index: int) -> list[str]:
    """What the wrapper runs: the template's command line, inside the job's container when it has an image
    (`docker` as the node's PATH finds it)."""
    argv = template_argv(job.template, list(job.command), index)
    if not job.image or not argv:
        return argv
    return ["docker", "run", "--rm", "--name", JOB_CONTAINER, "--network", "host", "--ipc", "host", "--gpus", "all",
            "--env-file", JOB_ENV_FILE, "--env-file", job_runner.rendezvous_env_path(JOB_STATE_DIR),
            job.image, *argv]


def worker_env(job: Job, run: JobRun, index: int, nproc_per_node: int) -> dict[str, str]:
    """The user's env (secrets resolved) and the part of §11's environment known before any node runs."""
    env = {name: _resolve(job, value) for name, value in job.env.items()}
    return {**env, "GPUB_JOB_ID": str(job.pk), "GPUB_JOB_NAME": job.name, "GPUB_WORKER_INDEX": str(index),
            "GPUB_WORKERS": str(job.workers), "GPUB_RESTART_COUNT": str(run.restart), "NNODES": str(job.workers),
            "NODE_RANK": str(index), "NPROC_PER_NODE": str(nproc_per_node)}


def _resolve(job: Job, value) -> str:
    if isinstance(value, dict):
        return decrypt_text(getattr(job.workspace, SECRET_FIELDS[value["secret"]]))
    return str(value)


def job_workload(job: Job, run: JobRun, index: int, *, nproc_per_node: int) -> Workload:
    secrets = {name for name, value in job.env.items() if isinstance(value, dict)}
    env = secret_env_file(JOB_ENV_FILE, worker_env(job, run, index, nproc_per_node), secrets)
    spec = PlanFile(JOB_SPEC_FILE, json.dumps({"argv": worker_argv(job, index), "state_dir": JOB_STATE_DIR,
                                               "template": job.template}, indent=2) + "\n")
    unit = systemd_unit(JOB_UNIT, f"GPU Broker job {job.name} worker {index}", "network-online.target", [
        f"EnvironmentFile={AGENT_ENV_FILE}", f"EnvironmentFile={JOB_ENV_FILE}",
        f"ExecStart={shlex.join(job_runner.exec_start(f'{AGENT_VENV}/bin/python', AGENT_ZIPAPP, JOB_SPEC_FILE))}",
        "Restart=no"])
    start = (*((REQUIRE_DOCKER,) if job.image else ()), f"install -d -m 0700 {JOB_STATE_DIR}",
             "systemctl daemon-reload", f"systemctl enable --now {JOB_UNIT}")
    return Workload(f"worker {index} of job {job.name}", (env, spec, unit), start)


def launch_plan_for(rental: Rental, node: Node, node_token: str) -> LaunchPlan | None:
    """The job's worker on this node when the rental is a job's run, else None (not this app's rental)."""
    run = JobRun.objects.filter(rental_id=rental.pk).select_related("job__workspace").first()
    if run is None:
        return None
    if node.partner.node_launch != NodeLaunch.CLOUD_INIT:
        raise ProviderError(INVALID_REQUEST, f"partner {node.partner.slug} launches nodes by "
                                             f"{node.partner.node_launch!r}; jobs need cloud-init")
    artifact = current_agent()
    ctx = NodeContext(node_id=node.pk, node_token=node_token, broker_url=settings.PUBLIC_BASE_URL,
                      agent=AgentDownload(url=agent_url(artifact), sha256=artifact.sha256))
    gpus = rental.offer.gpus_per_node if rental.offer_id else rental.request.get("gpus_per_node") or 1
    workload = job_workload(run.job, run, node.index, nproc_per_node=gpus)
    return LaunchPlan(render_node_plan(ctx, workload), render_node_plan(ctx, workload, redacted=True))
