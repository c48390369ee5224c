"""Read-only queries behind the pod pages and answers, and who owns a rental (the marketplace owners hook)."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from marketplace.hooks import RentalOwner
from marketplace.models import Node, Workspace
from marketplace.services.metering import rental_cost
from pods.models import Pod, PodState
from pods.plans import JUPYTER_PORT
from pods.services.launch_plans import jupyter_image
from pods.services.pods import idle_since, idle_stop_at, pod_node

ACTIVITY_READINGS = ("ssh_sessions", "jupyter_kernels", "jupyter_busy_kernels", "gpu_utilization_pct")


def workspace_pods(workspace: Workspace) -> QuerySet[Pod]:
    """Newest first, with the rental and its partner (for cost and the stop event)."""
    return Pod.objects.filter(workspace=workspace).select_related("rental__partner").prefetch_related("events")


def pod_owners(rental_ids: Collection[int]) -> dict[int, RentalOwner]:
    rows = Pod.objects.filter(rental_id__in=list(rental_ids)).values_list("rental_id", "pk", "name")
    return {rental_id: RentalOwner("pod", name, reverse("pods:pod", args=[pod_id]))
            for rental_id, pod_id, name in rows}


@dataclass(frozen=True)
class PodView:
    """A pod as its answers and pages show it: how to connect, activity, cost."""

    pod: Pod
    node: Node | None
    ssh: str | None
    jupyter_url: str | None
    jupyter_token: str | None
    image: str | None
    partner: str | None
    activity: dict
    cost: dict


def jupyter_base(node: Node) -> str:
    """Where JupyterLab is reached: the node's endpoint where its partner maps the port elsewhere (Yotta, Vast; a
    pod opens no other port than SSH and Jupyter's, so that endpoint is Jupyter's), else its IP and the port."""
    return node.endpoint.rstrip("/") if node.endpoint else f"http://{node.ip}:{JUPYTER_PORT}"


def pod_view(pod: Pod, *, now: datetime | None = None, jupyter_token: str = "") -> PodView:
    now = now or timezone.now()
    node = pod_node(pod)
    running = pod.state == PodState.RUNNING and node is not None and bool(node.ip)
    seen = (node.health_report or {}).get("activity") or {} if node else {}
    rental = pod.rental
    return PodView(
        pod=pod, node=node,
        ssh=f"ssh -p {node.ssh_port} {node.ssh_user}@{node.ip}" if running else None,
        jupyter_url=f"{jupyter_base(node)}/lab" if running and pod.jupyter else None,
        jupyter_token=jupyter_token or None,
        image=jupyter_image(pod) if pod.jupyter else None,
        partner=rental.partner.slug if rental and rental.partner else None,
        activity={"last_activity_at": node.last_activity_at if node else None,
                  "idle_since": idle_since(pod, node) if pod.state == PodState.RUNNING else None,
                  "idle_stop_at": idle_stop_at(pod, node),
                  "last_heartbeat_at": node.last_heartbeat_at if node else None,
                  **{name: seen.get(name) for name in ACTIVITY_READINGS}},
        cost={"price_per_hour": float(rental.locked_price_per_hour) if rental and rental.locked_price_per_hour
              is not None else None, "so_far": float(rental_cost(rental, now=now)) if rental else 0.0},
    )
