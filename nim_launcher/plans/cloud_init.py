"""cloud-init user data for VM partners: start the NIM container and the node health agent."""

import shlex

import yaml

from nim_launcher.profiles import ModelSpec, Profile

from .context import NIM_CACHE_IN_CONTAINER, NIM_PORT, REDACTED, NodeContext

NGC_ENV_FILE = "/etc/gpu-broker/ngc.env"
AGENT_ENV_FILE = "/etc/gpu-broker/agent.env"
START_SCRIPT = "/opt/gpu-broker/start-nim.sh"
AGENT_UNIT = "/etc/systemd/system/gpu-broker-agent.service"


def docker_run_argv(model: ModelSpec, profile: Profile, ctx: NodeContext) -> list[str]:
    """The `docker run` line; NGC_API_KEY is passed by name from the environment, never inline."""
    return ["docker", "run", "-d", "--name", "nim", "--restart", "unless-stopped", "--gpus", "all",
            "--shm-size", "16g", "-e", "NGC_API_KEY", "-e", f"NIM_MODEL_PROFILE={profile.name}",
            "-v", f"{ctx.cache_dir}:{NIM_CACHE_IN_CONTAINER}", "-p", f"{NIM_PORT}:{NIM_PORT}", model.image]


def _start_script(model: ModelSpec, profile: Profile, ctx: NodeContext) -> str:
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        "set +x  # never trace: the environment holds the NGC key",
        f"set -a; . {NGC_ENV_FILE}; set +a",
        f"mkdir -p {shlex.quote(ctx.cache_dir)} && chmod 0777 {shlex.quote(ctx.cache_dir)}",
        "printf '%s' \"$NGC_API_KEY\" | docker login nvcr.io --username '$oauthtoken' --password-stdin >/dev/null",
        "docker rm -f nim >/dev/null 2>&1 || true",
        shlex.join(docker_run_argv(model, profile, ctx)),
        "",
    ])


def _agent_unit(ctx: NodeContext) -> str:
    return "\n".join([
        "[Unit]",
        "Description=GPU Broker node health agent",
        "After=network-online.target docker.service",
        "",
        "[Service]",
        f"EnvironmentFile={AGENT_ENV_FILE}",
        f"ExecStart=/usr/bin/python3 -m nim_launcher.agent --broker {ctx.broker_url} --node-token ${{NODE_TOKEN}}",
        "Restart=always",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def render_cloud_init(model: ModelSpec, profile: Profile, ctx: NodeContext, *, ngc_api_key: str,
                      redacted: bool = False) -> str:
    """`#cloud-config` user data; with `redacted=True` every secret value reads `<redacted>` (for logs)."""
    ngc_key = REDACTED if redacted else ngc_api_key
    node_token = REDACTED if redacted else ctx.node_token
    config = {
        "write_files": [
            {"path": NGC_ENV_FILE, "owner": "root:root", "permissions": "0600",
             "content": f"NGC_API_KEY={ngc_key}\n"},
            {"path": AGENT_ENV_FILE, "owner": "root:root", "permissions": "0600",
             "content": f"NODE_TOKEN={node_token}\nNODE_ID={ctx.node_id}\n"},
            {"path": START_SCRIPT, "owner": "root:root", "permissions": "0700",
             "content": _start_script(model, profile, ctx)},
            {"path": AGENT_UNIT, "owner": "root:root", "permissions": "0644", "content": _agent_unit(ctx)},
        ],
        "runcmd": [
            ["python3", "-m", "pip", "install", "--quiet", ctx.agent_package],
            ["bash", START_SCRIPT],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "gpu-broker-agent.service"],
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False, width=1000)
