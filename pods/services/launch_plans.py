"""The pod's node plan (the agent plus the pod's workload), and the ports its users reach (marketplace hooks)."""

from django.conf import settings

from marketplace.hooks import LaunchPlan
from marketplace.models import Node, NodeLaunch, Rental
from nim_launcher.plans.cloud_init import render_node_plan
from nim_launcher.plans.context import AgentDownload, NodeContext
from nim_launcher.services.agent_artifact import agent_url, current_agent
from pods.models import Pod
from pods.plans import JUPYTER_PORT, pod_workload
from pods.tokens import jupyter_token
from providers.base import INVALID_REQUEST, ProviderError


def jupyter_image(pod: Pod) -> str:
    return pod.image or settings.POD_JUPYTER_IMAGE


def pod_launch_plan(rental: Rental, node: Node, node_token: str) -> LaunchPlan | None:
    """The pod's cloud-init plan; None when the rental is no pod's. A partner that cannot boot a cloud-init
    plan fails the attempt with a clear error (the rental fails over)."""
    pod = Pod.objects.filter(rental_id=rental.pk).first()
    if pod is None:
        return None
    if node.partner.node_launch != NodeLaunch.CLOUD_INIT:
        raise ProviderError(INVALID_REQUEST, f"partner {node.partner.slug} launches nodes by "
                                             f"{node.partner.node_launch!r}; a pod needs a VM that runs cloud-init")
    artifact = current_agent()
    ctx = NodeContext(node_id=node.pk, node_token=node_token, broker_url=settings.PUBLIC_BASE_URL,
                      agent=AgentDownload(url=agent_url(artifact), sha256=artifact.sha256))
    workload = pod_workload(user=node.ssh_user, ssh_public_key=pod.ssh_public_key,
                            jupyter_image=jupyter_image(pod) if pod.jupyter else "",
                            jupyter_token=jupyter_token(pod) if pod.jupyter else "")
    return LaunchPlan(render_node_plan(ctx, workload), render_node_plan(ctx, workload, redacted=True))


def public_ports(rental: Rental) -> list[int]:
    """JupyterLab's port, open to its users (it asks for the token), for a pod with Jupyter."""
    return [JUPYTER_PORT] if Pod.objects.filter(rental_id=rental.pk, jupyter=True).exists() else []
