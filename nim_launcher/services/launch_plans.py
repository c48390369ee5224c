"""Pick and render the launch plan for one node of a rental, in the form its partner takes."""

import shlex
import sys

from django.conf import settings

from marketplace.hooks import LaunchPlan
from marketplace.models import Node, NodeLaunch, PartnerKind, Rental
from marketplace.secrets import decrypt_text
from nim_launcher.models import Replica
from nim_launcher.plans.cloud_init import render_cloud_init
from nim_launcher.plans.context import NIM_PORT, AgentDownload, NodeContext
from nim_launcher.plans.local import local_process_plan
from nim_launcher.profiles import get_model, profile_for_request
from nim_launcher.services.agent_artifact import agent_url, current_agent
from providers.base import INVALID_REQUEST, ProviderError

LOCAL_STARTUP_DELAY_S = 0.0


def launch_plan_for(rental: Rental, node: Node, node_token: str) -> LaunchPlan | None:
    """The node's user data (and its redacted copy): the deployment's NIM server when the rental is a
    replica, else None.

    Plain rentals get the partner's default image with the SSH key; only deployments launch a plan.
    A partner whose launch kind has no renderer fails the attempt with a clear error (the rental fails over).
    """
    replica = Replica.objects.filter(rental_id=rental.pk).select_related("deployment__workspace").first()
    if replica is None:
        return None
    deployment = replica.deployment
    model = get_model(deployment.model)
    if node.partner.node_launch == NodeLaunch.LOCAL_PROCESS:  # the local adapter: this machine, no VM
        plan = local_process_plan(model, port=0, startup_delay=LOCAL_STARTUP_DELAY_S, python=sys.executable)
        argv = list(plan.argv)
        # The node's address and port, given by the partner at start (a simulated node's own IP).
        argv[argv.index("--host") + 1], argv[argv.index("--port") + 1] = "$NODE_HOST", "$PORT"
        command = "exec " + " ".join(a if a in ("$NODE_HOST", "$PORT") else shlex.quote(a) for a in argv)
        return LaunchPlan(command, command)
    if node.partner.node_launch != NodeLaunch.CLOUD_INIT:
        raise ProviderError(INVALID_REQUEST, f"partner {node.partner.slug} launches nodes by "
                                             f"{node.partner.node_launch!r}, which the broker cannot render")
    artifact = current_agent()
    ctx = NodeContext(node_id=node.pk, node_token=node_token, broker_url=settings.PUBLIC_BASE_URL,
                      agent=AgentDownload(url=agent_url(artifact), sha256=artifact.sha256),
                      spot_metadata_url=AWS_METADATA_URL if rental.spot and node.partner.kind == PartnerKind.AWS else "")
    profile = profile_for_request(deployment.model, deployment.request)
    ngc_key = decrypt_text(deployment.workspace.ngc_api_key_encrypted)
    return LaunchPlan(render_cloud_init(model, profile, ctx, ngc_api_key=ngc_key),
                      render_cloud_init(model, profile, ctx, ngc_api_key=ngc_key, redacted=True))


# EC2's instance metadata service: where a spot node's two-minute interruption notice appears.
AWS_METADATA_URL = "http://169.254.169.254"


def served_ports(rental: Rental) -> list[int]:
    """The inbound TCP ports the rental's workload serves on: the NIM port for a replica."""
    return [NIM_PORT] if Replica.objects.filter(rental_id=rental.pk).exists() else []
