"""Rent flow: the placement form → a live preview of the ranked placements → confirm → the rental page."""

import uuid
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.errors import InvalidInput
from marketplace.matching import Explanation, MatchResult
from marketplace.models import Role
from marketplace.placement import RentalRequest, parse_rental_request
from marketplace.services.metering import BudgetExceeded
from marketplace.services.placing import placements_for
from marketplace.services.rentals import IdempotencyConflict, NoPlacement, RentalInput, rental_create, request_hash

from .access import workspace_required
from .placement_form import PlacementForm

PREVIEW_LIMIT = 10
RULE_HINTS = {
    "gpu": "pick another GPU model (or none)", "gpus_per_node": "change the GPUs per node",
    "spot": "untick spot", "no_price": "tick spot", "max_price": "raise the max price per GPU-hour",
    "partner_active": "these partners are not selling right now", "price_integrity": "their prices are suspect or stale",
    "interconnect": "accept a slower interconnect", "partners": "allow more partners or deny fewer",
    "partner_hq_jurisdictions": "allow more partner headquarters", "certifications": "require fewer certifications",
    "regions": "allow more regions", "countries": "allow more countries", "jurisdictions": "allow more jurisdictions",
    "capacity": "ask for fewer nodes",
}


class RentForm(PlacementForm):
    max_hours = forms.CharField(
        label="Max hours", initial="1", help_text="The rental stops by itself after this long; it bounds the cost.",
        widget=forms.NumberInput(attrs={"step": "0.25", "min": "0.01", "inputmode": "decimal"}))
    ssh_public_key = forms.CharField(
        label="SSH public key", required=False, help_text="Optional: “ssh-ed25519 AAAA…”, installed on every node.",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}))
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)


@dataclass(frozen=True)
class RuleCount:
    rule: str
    count: int
    hint: str
    relax: bool


def explained_rules(explanation: Explanation) -> list[RuleCount]:
    """Rules that excluded something, in engine order; the one that excluded the most is marked `relax`."""
    counts = [(rule, count) for rule, count in explanation.excluded.items() if count]
    top = max((count for _, count in counts), default=0)
    return [RuleCount(rule, count, RULE_HINTS.get(rule, ""), count == top) for rule, count in counts]


def validate_rent(form: RentForm) -> tuple[RentalRequest, dict] | None:
    """(parsed rental request, JSON body) when the form is valid, else None with the errors on the form."""
    if not form.is_valid():
        return None
    body = form.placement_body() | {"max_hours": form.cleaned_data["max_hours"].strip(),
                                    "ssh_public_key": form.cleaned_data["ssh_public_key"]}
    try:
        parsed = parse_rental_request(body)
    except InvalidInput as exc:
        form.add_api_errors(exc.errors)
        return None
    return parsed, body | {"max_hours": str(parsed.max_hours), "ssh_public_key": parsed.ssh_public_key}


def _preview_context(form: RentForm, result: MatchResult | None, max_hours=None) -> dict:
    context = {"form": form, "result": result}
    if result is not None:
        context["rules"] = explained_rules(result.explanation)
        context["max_hours"] = max_hours
        hours = float(max_hours or 0)
        context["rows"] = [(placement, placement.price_per_hour * hours) for placement in result.placements]
    return context


@workspace_required(min_role=Role.MEMBER)
@require_http_methods(["GET", "POST"])
def rent(request: HttpRequest) -> HttpResponse:
    """GET: the form (prefilled from the query string); POST: create the rental and go to its page."""
    if request.method == "GET":
        form = RentForm(initial={**request.GET.dict(), "idempotency_key": uuid.uuid4().hex,
                                 "jurisdictions": request.GET.getlist("jurisdictions")})
        return render(request, "marketplace/rent.html", {"form": form})
    form = RentForm(request.POST)
    valid = validate_rent(form)
    if valid is None:
        return render(request, "marketplace/rent.html", {"form": form}, status=400)
    parsed, body = valid
    try:
        rental, _ = rental_create(
            workspace=request.access.workspace, user=request.user,
            data=RentalInput(request=parsed.request, max_hours=parsed.max_hours,
                             ssh_public_key=parsed.ssh_public_key),
            body_hash=request_hash(body), idempotency_key=form.cleaned_data["idempotency_key"][:128] or None)
    except NoPlacement as exc:
        result = MatchResult(placements=(), explanation=exc.explanation)
        form.add_error(None, "No offer satisfies this request right now. Relax the highlighted rule.")
        return render(request, "marketplace/rent.html", _preview_context(form, result), status=409)
    except BudgetExceeded as exc:
        form.add_error("max_hours", str(exc))
        return render(request, "marketplace/rent.html", {"form": form}, status=402)
    except IdempotencyConflict:
        form.add_error(None, "This form was already submitted with other values. Reload the page to rent again.")
        return render(request, "marketplace/rent.html", {"form": form}, status=409)
    messages.success(request, f"Rental {rental.pk} requested: the broker is reserving and provisioning it.")
    return redirect("dashboard:rental", rental_id=rental.pk)


@workspace_required(min_role=Role.MEMBER)
@require_POST
def rent_preview(request: HttpRequest) -> HttpResponse:
    """The ranked placements and the explanation for the form as it stands; reserves nothing."""
    form = RentForm(request.POST)
    valid = validate_rent(form)
    if valid is None:
        return render(request, "marketplace/partials/_rent_preview.html", {"form": form, "invalid": True},
                      status=400)
    parsed, _ = valid
    result = placements_for(parsed.request, request.access.workspace.pk, limit=PREVIEW_LIMIT)
    return render(request, "marketplace/partials/_rent_preview.html",
                  _preview_context(form, result, parsed.max_hours) | {"oob": True})
