"""cloud-init user data for VM partners (DESIGN §10): the broker's node agent as a systemd unit, then a workload.

On the node: download the agent zipapp from the broker, check its SHA-256 (from this plan), put it in
its own virtualenv, run it as `gpu-broker-agent.service` with its settings in a root-only env file,
then start the workload (a NIM container, a job's workers, a pod…) from the files and lines its
`Workload` brings. Secrets live only in 0600 env files, never on a command line; `redacted=True`
renders the same plan with every secret as `<redacted>`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from nim_launcher.agent import options
from nim_launcher.profiles import ModelSpec, Profile

from .context import NIM_CACHE_IN_CONTAINER, NIM_PORT, REDACTED, NodeContext

CONFIG_DIR = "/etc/gpu-broker"
AGENT_ENV_FILE = f"{CONFIG_DIR}/agent.env"
NIM_ENV_FILE = f"{CONFIG_DIR}/nim.env"
HOME = "/opt/gpu-broker"
BOOTSTRAP_SCRIPT = f"{HOME}/bootstrap.sh"
AGENT_DOWNLOAD = f"{HOME}/download/gpu-broker-agent.pyz"
AGENT_CHECKSUM_FILE = f"{HOME}/download/gpu-broker-agent.pyz.sha256"
AGENT_VENV = f"{HOME}/agent"
AGENT_ZIPAPP = f"{AGENT_VENV}/gpu-broker-agent.pyz"
AGENT_STATE_FILE = "/var/lib/gpu-broker-agent/state.json"
UNIT_DIR = "/etc/systemd/system"
AGENT_UNIT = "gpu-broker-agent.service"
NIM_UNIT = "gpu-broker-nim.service"
NIM_CONTAINER = "gpu-broker-nim"
DOCKER = "/usr/bin/docker"
REQUIRE_DOCKER = "command -v docker >/dev/null || { echo 'gpu-broker: this image has no docker' >&2; exit 1; }"
# The built-in CPU models have no published image; only the simulator (which maps `docker run`
# to the local runtime) can serve them.
BUILTIN_IMAGE = "gpu-broker/builtin-runtime:local"


@dataclass(frozen=True)
class PlanFile:
    """One file the plan writes; `redacted` is its content with every secret as `<redacted>` (None: none in it)."""

    path: str
    content: str
    permissions: str = "0644"
    redacted: str | None = None
    owner: str = "root:root"
    defer: bool = False  # written in cloud-init's final stage, once the image's users exist
    append: bool = False  # added to what the file already holds (e.g. the partner's authorized_keys)

    def rendered(self, *, redacted: bool) -> dict:
        content = self.redacted if redacted and self.redacted is not None else self.content
        entry = {"path": self.path, "owner": self.owner, "permissions": self.permissions, "content": content}
        return {**entry, **({"defer": True} if self.defer else {}), **({"append": True} if self.append else {})}


@dataclass(frozen=True)
class Workload:
    """What a node runs beside its agent: the files it needs and the bootstrap lines (bash, as root) that start it."""

    summary: str
    files: tuple[PlanFile, ...]
    start: tuple[str, ...]


def env_text(values: Mapping[str, str]) -> str:
    """`NAME=value` lines as systemd's EnvironmentFile and `docker --env-file` read them; one line each."""
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} must be one line")
    return "".join(f"{name}={value}\n" for name, value in values.items())


def secret_env_file(path: str, values: Mapping[str, str], secrets: set[str]) -> PlanFile:
    """A root-only env file whose `secrets` (by name) read `<redacted>` in the redacted plan."""
    hidden = {name: REDACTED if name in secrets and value else value for name, value in values.items()}
    return PlanFile(path, env_text(values), "0600", env_text(hidden))


def systemd_unit(name: str, description: str, after: str, service: list[str]) -> PlanFile:
    text = "\n".join(["[Unit]", f"Description={description}", f"Wants={after}", f"After={after}", "",
                      "[Service]", *service, "", "[Install]", "WantedBy=multi-user.target", ""])
    return PlanFile(f"{UNIT_DIR}/{name}", text)


def agent_exec_start() -> list[str]:
    """The agent's command line: paths only; its broker, node id and token come from the env file."""
    return [f"{AGENT_VENV}/bin/python", AGENT_ZIPAPP, options.STATE_FILE.option, AGENT_STATE_FILE]


def agent_env(ctx: NodeContext, *, redacted: bool = False) -> str:
    values = {options.BROKER_URL: ctx.broker_url, options.NODE_ID: ctx.node_id,
              options.NODE_TOKEN: REDACTED if redacted else ctx.node_token}
    if ctx.spot_metadata_url:
        values[options.SPOT_METADATA_URL] = ctx.spot_metadata_url
    return options.env_file_text(values)


def _agent_files(ctx: NodeContext) -> list[PlanFile]:
    unit = systemd_unit(AGENT_UNIT, "GPU Broker node agent (GPU health, heartbeats)", "network-online.target", [
        f"EnvironmentFile={AGENT_ENV_FILE}", f"ExecStart={shlex.join(agent_exec_start())}",
        "Restart=always", "RestartSec=5"])
    return [
        PlanFile(AGENT_ENV_FILE, agent_env(ctx), "0600", agent_env(ctx, redacted=True)),
        PlanFile(AGENT_CHECKSUM_FILE, f"{ctx.agent.sha256}  {AGENT_DOWNLOAD}\n"),
        unit,
    ]


def _bootstrap_script(ctx: NodeContext, workload: Workload) -> str:
    return "\n".join([
        "#!/bin/bash",
        f"# GPU Broker node bootstrap: the broker's agent (hash-checked), then {workload.summary}.",
        "set -euo pipefail",
        f"install -d -m 0755 {HOME}/download {AGENT_VENV} /var/lib/gpu-broker-agent",
        f"curl -fsSL --retry 10 --retry-delay 3 --retry-all-errors -o {AGENT_DOWNLOAD} {shlex.quote(ctx.agent.url)}",
        f"sha256sum --check --strict --quiet {AGENT_CHECKSUM_FILE}",
        f"python3 -m venv --without-pip {AGENT_VENV}",
        f"install -m 0644 {AGENT_DOWNLOAD} {AGENT_ZIPAPP}",
        "systemctl daemon-reload",
        f"systemctl enable --now {AGENT_UNIT}",
        *workload.start,
        "",
    ])


class _PlanDumper(yaml.SafeDumper):
    """Multi-line file contents as `|` blocks, so the plan reads like the files it writes."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PlanDumper.add_representer(str, _str)


def render_node_plan(ctx: NodeContext, workload: Workload, *, redacted: bool = False) -> str:
    """`#cloud-config` user data: the agent, then the workload; `redacted=True` shows every secret as `<redacted>`."""
    if ctx.agent is None:
        raise ValueError("a cloud-init plan needs the agent artifact (NodeContext.agent)")
    bootstrap = PlanFile(BOOTSTRAP_SCRIPT, _bootstrap_script(ctx, workload), "0700")
    files = [*_agent_files(ctx), *workload.files, bootstrap]
    config = {"write_files": [file.rendered(redacted=redacted) for file in files],
              "runcmd": [["bash", BOOTSTRAP_SCRIPT]]}
    return "#cloud-config\n" + yaml.dump(config, Dumper=_PlanDumper, sort_keys=False, width=1000)


def nim_image(model: ModelSpec) -> str:
    return model.image or BUILTIN_IMAGE


def docker_run_argv(model: ModelSpec, ctx: NodeContext) -> list[str]:
    """The container's command line; the NGC key reaches it through the env file, never inline."""
    return [DOCKER, "run", "--rm", "--name", NIM_CONTAINER, "--gpus", "all", "--shm-size", "16g",
            "--env-file", NIM_ENV_FILE, "-v", f"{ctx.cache_dir}:{NIM_CACHE_IN_CONTAINER}",
            "-p", f"{NIM_PORT}:{NIM_PORT}", nim_image(model)]


def nim_workload(model: ModelSpec, profile: Profile, ctx: NodeContext, *, ngc_api_key: str) -> Workload:
    """The NIM container as `gpu-broker-nim.service`, logged in to nvcr.io with the workspace's NGC key."""
    env = secret_env_file(NIM_ENV_FILE, {"NGC_API_KEY": ngc_api_key, "NIM_MODEL_PROFILE": profile.name,
                                         "NIM_SERVED_MODEL_NAME": model.id}, {"NGC_API_KEY"})
    unit = systemd_unit(NIM_UNIT, f"NIM inference server ({model.id})", "docker.service", [
        "TimeoutStartSec=0", f"ExecStartPre=-{DOCKER} rm -f {NIM_CONTAINER}",
        f"ExecStart={shlex.join(docker_run_argv(model, ctx))}", f"ExecStop={DOCKER} stop {NIM_CONTAINER}",
        "Restart=always", "RestartSec=10"])
    login = []
    if nim_image(model).startswith("nvcr.io/"):
        login = [f"sed -n 's/^NGC_API_KEY=//p' {NIM_ENV_FILE} | tr -d '\\n' "
                 "| docker login nvcr.io --username '$oauthtoken' --password-stdin >/dev/null"]
    start = (REQUIRE_DOCKER, f"install -d -m 0777 {shlex.quote(ctx.cache_dir)}", *login,
             f"systemctl enable --now {NIM_UNIT}")
    return Workload("the NIM container", (env, unit), start)


def render_cloud_init(model: ModelSpec, profile: Profile, ctx: NodeContext, *, ngc_api_key: str,
                      redacted: bool = False) -> str:
    """A NIM node's `#cloud-config` user data; with `redacted=True` every secret value reads `<redacted>`."""
    return render_node_plan(ctx, nim_workload(model, profile, ctx, ngc_api_key=ngc_api_key), redacted=redacted)
