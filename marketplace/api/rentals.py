"""Rentals API: create (202, Idempotency-Key), list, detail, terminate; usage (JSON and CSV)."""

import csv
import io
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import Rental, RentalState
from marketplace.placement import flatten_errors, parse_placement_request
from marketplace.services.metering import BudgetExceeded, rental_cost, usage_rows, usage_summary
from marketplace.services.rentals import (
    IdempotencyConflict,
    NoPlacement,
    RentalInput,
    rental_create,
    rental_terminate,
    request_hash,
)

from .access import CanWriteInWorkspace, request_workspace
from .throttling import ApiKeyWriteThrottle

MAX_HOURS_LIMIT = Decimal(24 * 31)


class RentalExtrasSerializer(serializers.Serializer):
    max_hours = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"),
                                         max_value=MAX_HOURS_LIMIT)
    ssh_public_key = serializers.CharField(required=False, allow_blank=True, max_length=8192, default="")

    def validate_ssh_public_key(self, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("ssh-", "ecdsa-", "sk-")):
            raise serializers.ValidationError("not an OpenSSH public key (expected 'ssh-ed25519 AAAA…' or similar)")
        return value


def explanation_dict(explanation) -> dict:
    return {"considered": explanation.considered, "excluded": dict(explanation.excluded),
            "matched": explanation.matched}


def rental_dict(rental: Rental, *, now=None) -> dict:
    now = now or timezone.now()
    offer = rental.offer
    return {
        "id": rental.pk, "state": rental.state, "request": rental.request,
        "offer": None if offer is None else {
            "id": offer.pk, "partner": offer.partner.slug, "region": offer.region.code,
            "instance_type": offer.instance_type, "gpu": offer.gpu.name, "gpus_per_node": offer.gpus_per_node},
        "nodes": [{"id": n.pk, "state": n.state, "ip": n.ip or None, "ssh": n.ssh or None, "health": n.health,
                   "partner_ref": n.provider_ref or None} for n in rental.nodes.all() if n.attempt_id
                  and (n.state != "terminated" or rental.state in ("terminating", "terminated"))
                  and n.attempt_id == _current_attempt_id(rental)],
        "events": [{"at": e.at, "from": e.from_state, "to": e.to_state, "reason": e.reason, "actor": e.actor}
                   for e in rental.events.all()],
        "attempts": [{"partner": a.partner_slug, "region": a.region_code, "instance_type": a.instance_type,
                      "outcome": a.outcome, "error_kind": a.error_kind or None, "error": a.error_message or None}
                     for a in rental.attempts.all()],
        "nodes_count": rental.nodes_count, "max_hours": float(rental.max_hours),
        "locked_price_per_hour": None if rental.locked_price_per_hour is None else float(rental.locked_price_per_hour),
        "cost_so_far": float(rental_cost(rental, now=now)), "failure_reason": rental.failure_reason or None,
        "created_at": rental.created_at, "running_since": rental.running_since, "ended_at": rental.ended_at,
    }


def _current_attempt_id(rental: Rental) -> int | None:
    attempts = [a for a in rental.attempts.all() if a.outcome in ("started", "succeeded", "cancelled")]
    return attempts[-1].pk if attempts else None


class RentalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]

    def get_queryset(self):
        # Another workspace's rental is simply not in this queryset: 404, never 403.
        return (Rental.objects.filter(workspace=request_workspace(self.request))
                .select_related("offer__partner", "offer__region", "offer__gpu")
                .prefetch_related("nodes", "events", "attempts"))

    def list(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        if state := request.query_params.get("state"):
            if state not in RentalState.values:
                raise ValidationError({"state": [f"unknown state {state!r}; one of {', '.join(RentalState.values)}"]})
            queryset = queryset.filter(state=state)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([rental_dict(r) for r in page])

    def retrieve(self, request, *args, **kwargs):
        return Response(rental_dict(self.get_object()))

    @extend_schema(parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)])
    def create(self, request, *args, **kwargs):
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"non_field_errors": ["expected a JSON object"]})
        extras = RentalExtrasSerializer(data=body)
        errors = {} if extras.is_valid() else flatten_errors(extras.errors)
        placement_body = {k: v for k, v in body.items() if k not in ("max_hours", "ssh_public_key")}
        try:
            placement = parse_placement_request(placement_body)
        except ValidationError as exc:
            errors |= exc.detail
            placement = None
        if errors:
            raise ValidationError(errors)
        key = request.headers.get("Idempotency-Key") or None
        if key and len(key) > 128:
            raise ValidationError({"Idempotency-Key": ["at most 128 characters"]})
        data = RentalInput(request=placement, max_hours=extras.validated_data["max_hours"],
                           ssh_public_key=extras.validated_data["ssh_public_key"])
        try:
            rental, created = rental_create(workspace=request_workspace(request), user=request.user, data=data,
                                            body_hash=request_hash(body), idempotency_key=key)
        except IdempotencyConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except NoPlacement as exc:
            return Response({"detail": "no offer satisfies the request; relax the rule that excluded the most",
                             "explanation": explanation_dict(exc.explanation)}, status=status.HTTP_409_CONFLICT)
        except BudgetExceeded as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_402_PAYMENT_REQUIRED)
        rental = self.get_queryset().get(pk=rental.pk)
        return Response(rental_dict(rental), status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        rental = self.get_object()
        rental_terminate(rental, reason="terminated by the user", actor=request.user.username)
        return Response(rental_dict(self.get_queryset().get(pk=rental.pk)), status=status.HTTP_202_ACCEPTED)


class UsageView(APIView):
    """Cost per rental, deployment and day for the workspace; `?format=csv` for a spreadsheet."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        since, until = _period(request)
        rows = usage_rows(request_workspace(request), since=since, until=until)
        if request.query_params.get("format") == "csv":
            return _csv(rows)
        summary = usage_summary(rows)
        return Response({
            "since": since, "until": until, "total": float(summary["total"]),
            "per_day": {day: float(cost) for day, cost in summary["per_day"].items()},
            "per_rental": {str(rid): float(cost) for rid, cost in summary["per_rental"].items()},
            "per_deployment": {name: float(cost) for name, cost in summary["per_deployment"].items()},
            "rows": [{"day": r.day, "rental": r.rental_id, "deployment": r.deployment or None, "partner": r.partner,
                      "hours": float(r.hours), "cost": float(r.cost)} for r in rows],
        })


def _period(request) -> tuple[datetime, datetime]:
    now = timezone.now()
    errors, bounds = {}, {}
    for name, default in (("since", now - timedelta(days=30)), ("until", now)):
        raw = request.query_params.get(name)
        if not raw:
            bounds[name] = default
            continue
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            errors[name] = ["expected an ISO date or datetime, e.g. 2026-11-01"]
            continue
        if parsed.tzinfo is None:
            parsed = timezone.make_aware(datetime.combine(parsed.date(), time()) if len(raw) == 10 else parsed)
        bounds[name] = parsed
    if errors:
        raise ValidationError(errors)
    if bounds["since"] >= bounds["until"]:
        raise ValidationError({"since": ["must be before until"]})
    return bounds["since"], bounds["until"]


def _csv(rows) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["day", "rental_id", "deployment", "partner", "hours", "cost_usd"])
    for r in rows:
        writer.writerow([r.day.isoformat(), r.rental_id, r.deployment, r.partner, f"{r.hours}", f"{r.cost}"])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="usage.csv"'
    return response
