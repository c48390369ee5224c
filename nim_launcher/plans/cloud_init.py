"""cloud-init user data for VM partners (DESIGN §10): the broker's node agent as a systemd unit, then the NIM.

On the node: download the agent zipapp from the broker, check its SHA-256 (from this plan), put it in
its own virtualenv, run it as `gpu-broker-agent.service` with its settings in a root-only env file,
then run the NIM container as `gpu-broker-nim.service`. Secrets live only in the two 0600 env files,
never on a command line; `redacted=True` renders the same plan with every secret as `<redacted>`.
"""

from __future__ import annotations

import shlex

import yaml

from nim_launcher.agent import options
from nim_launcher.profiles import ModelSpec, Profile

from .context import NIM_CACHE_IN_CONTAINER, NIM_PORT, REDACTED, AgentDownload, NodeContext

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
# The built-in CPU models have no published image; only the simulator (which maps `docker run`
# to the local runtime) can serve them.
BUILTIN_IMAGE = "gpu-broker/builtin-runtime:local"


def agent_exec_start() -> list[str]:
    """The agent's command line: paths only; its broker, node id and token come from the env file."""
    return [f"{AGENT_VENV}/bin/python", AGENT_ZIPAPP, options.STATE_FILE.option, AGENT_STATE_FILE]


def agent_env(ctx: NodeContext, *, redacted: bool = False) -> str:
    return options.env_file_text({
        options.BROKER_URL: ctx.broker_url, options.NODE_ID: ctx.node_id,
        options.NODE_TOKEN: REDACTED if redacted else ctx.node_token,
    })


def nim_image(model: ModelSpec) -> str:
    return model.image or BUILTIN_IMAGE


def docker_run_argv(model: ModelSpec, ctx: NodeContext) -> list[str]:
    """The container's command line; the NGC key reaches it through the env file, never inline."""
    return [DOCKER, "run", "--rm", "--name", NIM_CONTAINER, "--gpus", "all", "--shm-size", "16g",
            "--env-file", NIM_ENV_FILE, "-v", f"{ctx.cache_dir}:{NIM_CACHE_IN_CONTAINER}",
            "-p", f"{NIM_PORT}:{NIM_PORT}", nim_image(model)]


def _nim_env(model: ModelSpec, profile: Profile, ngc_key: str) -> str:
    values = {"NGC_API_KEY": ngc_key, "NIM_MODEL_PROFILE": profile.name, "NIM_SERVED_MODEL_NAME": model.id}
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} must be one line")
    return "".join(f"{name}={value}\n" for name, value in values.items())


def _unit(description: str, after: str, service: list[str]) -> str:
    return "\n".join(["[Unit]", f"Description={description}", f"Wants={after}", f"After={after}", "",
                      "[Service]", *service, "", "[Install]", "WantedBy=multi-user.target", ""])


def _agent_unit() -> str:
    return _unit("GPU Broker node agent (GPU health, heartbeats)", "network-online.target", [
        f"EnvironmentFile={AGENT_ENV_FILE}", f"ExecStart={shlex.join(agent_exec_start())}",
        "Restart=always", "RestartSec=5"])


def _nim_unit(model: ModelSpec, ctx: NodeContext) -> str:
    return _unit(f"NIM inference server ({model.id})", "docker.service", [
        "TimeoutStartSec=0", f"ExecStartPre=-{DOCKER} rm -f {NIM_CONTAINER}",
        f"ExecStart={shlex.join(docker_run_argv(model, ctx))}", f"ExecStop={DOCKER} stop {NIM_CONTAINER}",
        "Restart=always", "RestartSec=10"])


def _bootstrap_script(model: ModelSpec, ctx: NodeContext, agent: AgentDownload) -> str:
    login = []
    if nim_image(model).startswith("nvcr.io/"):
        login = [f"sed -n 's/^NGC_API_KEY=//p' {NIM_ENV_FILE} | tr -d '\\n' "
                 "| docker login nvcr.io --username '$oauthtoken' --password-stdin >/dev/null"]
    return "\n".join([
        "#!/bin/bash",
        "# GPU Broker node bootstrap: the broker's agent (hash-checked), then the NIM container.",
        "set -euo pipefail",
        f"install -d -m 0755 {HOME}/download {AGENT_VENV} /var/lib/gpu-broker-agent",
        f"curl -fsSL --retry 10 --retry-delay 3 --retry-all-errors -o {AGENT_DOWNLOAD} {shlex.quote(agent.url)}",
        f"sha256sum --check --strict --quiet {AGENT_CHECKSUM_FILE}",
        f"python3 -m venv --without-pip {AGENT_VENV}",
        f"install -m 0644 {AGENT_DOWNLOAD} {AGENT_ZIPAPP}",
        "systemctl daemon-reload",
        f"systemctl enable --now {AGENT_UNIT}",
        "command -v docker >/dev/null || { echo 'gpu-broker: this image has no docker' >&2; exit 1; }",
        f"install -d -m 0777 {shlex.quote(ctx.cache_dir)}",
        *login,
        f"systemctl enable --now {NIM_UNIT}",
        "",
    ])


class _PlanDumper(yaml.SafeDumper):
    """Multi-line file contents as `|` blocks, so the plan reads like the files it writes."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PlanDumper.add_representer(str, _str)


def render_cloud_init(model: ModelSpec, profile: Profile, ctx: NodeContext, *, ngc_api_key: str,
                      redacted: bool = False) -> str:
    """`#cloud-config` user data; with `redacted=True` every secret value reads `<redacted>`."""
    if ctx.agent is None:
        raise ValueError("a cloud-init plan needs the agent artifact (NodeContext.agent)")
    root_only = {"owner": "root:root", "permissions": "0600"}
    config = {
        "write_files": [
            {"path": AGENT_ENV_FILE, **root_only, "content": agent_env(ctx, redacted=redacted)},
            {"path": NIM_ENV_FILE, **root_only,
             "content": _nim_env(model, profile, REDACTED if redacted and ngc_api_key else ngc_api_key)},
            {"path": AGENT_CHECKSUM_FILE, "owner": "root:root", "permissions": "0644",
             "content": f"{ctx.agent.sha256}  {AGENT_DOWNLOAD}\n"},
            {"path": f"{UNIT_DIR}/{AGENT_UNIT}", "owner": "root:root", "permissions": "0644",
             "content": _agent_unit()},
            {"path": f"{UNIT_DIR}/{NIM_UNIT}", "owner": "root:root", "permissions": "0644",
             "content": _nim_unit(model, ctx)},
            {"path": BOOTSTRAP_SCRIPT, "owner": "root:root", "permissions": "0700",
             "content": _bootstrap_script(model, ctx, ctx.agent)},
        ],
        "runcmd": [["bash", BOOTSTRAP_SCRIPT]],
    }
    return "#cloud-config\n" + yaml.dump(config, Dumper=_PlanDumper, sort_keys=False, width=1000)


