"""Launch plans: how a node starts a NIM container (VM cloud-init, local process)."""

from .cloud_init import render_cloud_init
from .context import REDACTED, AgentDownload, NodeContext
from .local import LocalProcessPlan, local_process_plan

__all__ = [
    "REDACTED", "AgentDownload", "LocalProcessPlan", "NodeContext", "local_process_plan", "render_cloud_init",
]
