"""Read-only queries behind the deployment pages, and who owns a rental (the marketplace owners hook)."""

from collections.abc import Collection

from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from marketplace.hooks import RentalOwner
from marketplace.models import Workspace
from nim_launcher.models import Deployment, Replica


def workspace_deployments(workspace: Workspace) -> QuerySet[Deployment]:
    """Newest first, with every replica and its rental (for state counts and cost)."""
    return (Deployment.objects.filter(workspace=workspace)
            .prefetch_related(Prefetch("replicas", queryset=Replica.objects.select_related("rental"))))


def deployment_page(workspace: Workspace, deployment_id: int) -> Deployment | None:
    """One deployment of the workspace with its events and replicas (and their rentals)."""
    replicas = Replica.objects.select_related("rental__partner", "rental__offer__gpu")
    return (Deployment.objects.filter(workspace=workspace, pk=deployment_id)
            .prefetch_related("events", Prefetch("replicas", queryset=replicas)).first())


def replica_owners(rental_ids: Collection[int]) -> dict[int, RentalOwner]:
    """The deployment behind each replica's rental, in one query."""
    rows = Replica.objects.filter(rental_id__in=list(rental_ids)).values_list(
        "rental_id", "deployment_id", "deployment__name")
    return {rental_id: RentalOwner("deployment", name, reverse("deployments:deployment", args=[deployment_id]))
            for rental_id, deployment_id, name in rows}
