"""Launch plans: what a node runs (VM cloud-init: the agent plus a workload; local process)."""

from .cloud_init import PlanFile, Workload, render_cloud_init, render_node_plan, secret_env_file, systemd_unit
from .context import REDACTED, AgentDownload, NodeContext
from .local import LocalProcessPlan, local_process_plan

__all__ = [
    "REDACTED", "AgentDownload", "LocalProcessPlan", "NodeContext", "PlanFile", "Workload", "local_process_plan",
    "render_cloud_init", "render_node_plan", "secret_env_file", "systemd_unit",
]
