"""Rentals list, the rental page with its live progress timeline, and terminate (with confirmation)."""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from marketplace.flows import RENTAL_FLOW, RENTAL_TERMINABLE
from marketplace.hooks import rental_owners
from marketplace.models import Rental, Role
from marketplace.selectors.dashboard import current_nodes, rental_page, workspace_rentals
from marketplace.services.metering import rental_cost
from marketplace.services.rentals import rental_terminate

from .access import is_htmx, workspace_required

PAGE_SIZE = 50
POLL_SECONDS = 1


def _rental_or_404(request: HttpRequest, rental_id: int) -> Rental:
    rental = rental_page(request.access.workspace, rental_id)
    if rental is None:
        raise Http404("No such rental in this workspace.")
    return rental


def rental_context(rental: Rental) -> dict:
    """What the live part of the rental page shows; computed afresh on every poll."""
    now = timezone.now()
    return {
        "rental": rental, "now": now, "cost": rental_cost(rental, now=now), "nodes": current_nodes(rental),
        "final": rental.state in RENTAL_FLOW.final, "can_terminate": rental.state in RENTAL_TERMINABLE,
        "poll_seconds": POLL_SECONDS, "owner": rental_owners([rental.pk]).get(rental.pk),
    }


@workspace_required()
@require_GET
def rental_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    rentals = workspace_rentals(request.access.workspace)
    if state in dict(Rental._meta.get_field("state").choices):
        rentals = rentals.filter(state=state)
    page = Paginator(rentals, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    owners = rental_owners([rental.pk for rental in page.object_list])
    rows = [(rental, rental_cost(rental, now=now), owners.get(rental.pk)) for rental in page.object_list]
    return render(request, "marketplace/rentals.html", {"page": page, "rows": rows, "state": state,
                                                         "states": Rental._meta.get_field("state").choices})


@workspace_required()
@require_GET
def rental_detail(request: HttpRequest, rental_id: int) -> HttpResponse:
    """The full page, or (htmx poll) only its live part; the live part stops polling once final."""
    context = rental_context(_rental_or_404(request, rental_id))
    template = "marketplace/partials/_rental_live.html" if is_htmx(request) else "marketplace/rental.html"
    if not is_htmx(request):
        context["request_json"] = json.dumps(context["rental"].request, indent=2)
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@workspace_required(min_role=Role.MEMBER)
@require_http_methods(["GET", "POST"])
def rental_terminate_view(request: HttpRequest, rental_id: int) -> HttpResponse:
    """GET asks for confirmation; POST asks the broker to terminate (idempotent)."""
    rental = _rental_or_404(request, rental_id)
    if request.method == "GET":
        return render(request, "marketplace/rental_terminate.html", rental_context(rental))
    asked = rental.state in RENTAL_TERMINABLE
    if asked:
        rental = rental_terminate(rental, reason="terminated by the user in the dashboard",
                                  actor=request.user.username)
    if asked and rental.state == "terminating":
        messages.success(request, f"Rental {rental.pk} is terminating: its nodes are being released.")
    else:
        messages.info(request, f"Rental {rental.pk} is already {rental.state}.")
    return redirect("dashboard:rental", rental_id=rental.pk)
