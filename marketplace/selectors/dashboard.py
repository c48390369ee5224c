"""Read-only queries behind the dashboard pages: a workspace's rentals and nodes.

Each returns rows with their relations loaded, so a page renders without a query per row.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from marketplace.flows import NODE_FLOW
from marketplace.models import Node, NodeHealthEvent, Rental, Workspace
from marketplace.services.metering import rental_cost

LIST_LIMIT = 200
HEALTH_HISTORY = 20


def workspace_rentals(workspace: Workspace) -> QuerySet[Rental]:
    """Newest first, with the offer and partner joined."""
    return Rental.objects.filter(workspace=workspace).select_related("offer__gpu", "offer__region", "partner")


def rental_page(workspace: Workspace, rental_id: int) -> Rental | None:
    """One rental of the workspace with its events, attempts and nodes; None for another workspace's."""
    return (workspace_rentals(workspace).prefetch_related("events", "attempts", "nodes")
            .filter(pk=rental_id).first())


def current_nodes(rental: Rental) -> list[Node]:
    """The nodes of the rental's latest attempt (earlier, failed-over attempts are history)."""
    nodes = list(rental.nodes.all())
    attempts = [n.attempt_id for n in nodes if n.attempt_id]
    latest = max(attempts) if attempts else None
    return [n for n in nodes if n.attempt_id == latest]


def rentals_cost(rentals: Iterable[Rental], *, now: datetime) -> Decimal:
    return sum((rental_cost(r, now=now) for r in rentals), Decimal(0))


def workspace_nodes(workspace: Workspace, *, limit: int = LIST_LIMIT) -> list[Node]:
    """Live nodes first, then the most recently ended; each with its recent health history."""
    history = NodeHealthEvent.objects.order_by("-at", "-id")
    nodes = (Node.objects.filter(rental__workspace=workspace).select_related("partner", "rental")
             .prefetch_related(Prefetch("health_events", queryset=history, to_attr="recent_health"))
             .order_by("-created_at", "-id")[:limit])
    live = [n for n in nodes if n.state not in NODE_FLOW.final]
    ended = [n for n in nodes if n.state in NODE_FLOW.final]
    for node in live + ended:
        node.recent_health = node.recent_health[:HEALTH_HISTORY]
    return live + ended
