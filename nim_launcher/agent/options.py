"""The agent's settings, each with its command-line option and environment variable, defined once.

The agent's parser (`cli.py`) and the launch plans (its env file and systemd unit) both take the
names from here, so a plan can never set a variable the agent does not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    option: str
    env: str
    help: str

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")


BROKER_URL = Setting("--broker", "GPUB_BROKER_URL", "broker base URL; without it the report is only printed")
NODE_ID = Setting("--node-id", "GPUB_NODE_ID", "this node's id at the broker")
NODE_TOKEN = Setting("--node-token", "GPUB_NODE_TOKEN",
                     "this node's token; give it in the environment, which keeps it off the process list")
STATE_FILE = Setting("--state-file", "GPUB_AGENT_STATE_FILE", "where Xid/reboot history is kept")
INTERVAL = Setting("--interval", "GPUB_AGENT_INTERVAL", "seconds between readings")
SPOT_METADATA_URL = Setting("--spot-metadata-url", "GPUB_SPOT_METADATA_URL",
                            "instance metadata base URL polled for a spot interruption notice; empty = off")
# A pod's Jupyter Server, whose kernels count as activity: environment only (its env file, through a drop-in).
# JUPYTER_TOKEN is Jupyter Server's own variable: the server and the agent read the same env file.
JUPYTER_URL_ENV = "GPUB_JUPYTER_URL"
JUPYTER_TOKEN_ENV = "JUPYTER_TOKEN"


def env_file_text(values: Mapping[Setting, object]) -> str:
    """`NAME=value` lines, the format both systemd's EnvironmentFile and `docker --env-file` read."""
    lines = []
    for setting, value in values.items():
        text = str(value)
        if "\n" in text or "\r" in text:
            raise ValueError(f"{setting.env} must be one line")
        lines.append(f"{setting.env}={text}\n")
    return "".join(lines)

