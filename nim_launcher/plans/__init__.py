"""Launch plans: how a node starts a NIM container (VM cloud-init, Kubernetes, local process)."""

from .cloud_init import render_cloud_init
from .context import REDACTED, NodeContext, SecretRef
from .kubernetes import render_kubernetes
from .local import LocalProcessPlan, local_process_plan

__all__ = [
    "REDACTED", "LocalProcessPlan", "NodeContext", "SecretRef", "local_process_plan", "render_cloud_init",
    "render_kubernetes",
]
