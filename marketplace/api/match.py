"""`POST /api/v1/match`: a placement request → ranked placements and the explanation; reserves nothing."""

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace import inputs
from marketplace.errors import InvalidInput
from marketplace.inputs import BadValue
from marketplace.matching import DEFAULT_LIMIT, MatchResult, OfferSnapshot, Placement, PlacementRequest
from marketplace.placement import parse_placement_request
from marketplace.services.placing import placements_for

from .access import request_workspace_id
from .errors import ErrorsSerializer
from .placement import PlacementRequestSerializer
from .serializers import MatchAnswerSerializer

MAX_LIMIT = 100


class MatchRequestSerializer(PlacementRequestSerializer):
    """The placement request plus how many placements to return (describes the body; never parses it)."""

    limit = serializers.IntegerField(required=False, default=DEFAULT_LIMIT, min_value=1, max_value=MAX_LIMIT)


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def offer_payload(offer: OfferSnapshot) -> dict:
    """`MatchOfferSerializer`'s shape, built by hand: matching answers on every keystroke of the dashboard."""
    return {
        "id": offer.id, "partner": offer.partner, "region": offer.region, "country": offer.country,
        "jurisdiction": offer.jurisdiction, "instance_type": offer.instance_type, "gpu": offer.gpu,
        "gpu_memory_gb": offer.gpu_memory_gb, "gpus_per_node": offer.gpus_per_node, "vcpus": offer.vcpus,
        "memory_gb": offer.memory_gb, "interconnect": offer.interconnect,
        "price_per_hour": _money(offer.price_per_hour), "spot_price_per_hour": _money(offer.spot_price_per_hour),
        "price_per_gpu_hour": _money(offer.price_per_gpu_hour), "available_nodes": offer.available_nodes,
        "price_status": offer.price_status, "price_status_reason": offer.price_status_reason,
        "updated_at": None if offer.updated_at is None else offer.updated_at.isoformat().replace("+00:00", "Z"),
    }


def placement_payload(placement: Placement, *, with_distance: bool) -> dict:
    payload = {
        "offer": offer_payload(placement.offer), "nodes": placement.nodes,
        "price_per_hour": _money(placement.price_per_hour),
        "price_per_node_hour": _money(placement.price_per_node_hour),
        "price_per_gpu_hour": _money(placement.price_per_gpu_hour), "spot": placement.spot,
    }
    if with_distance:
        km = placement.distance_km
        payload["distance_km"] = None if km is None else round(km, 1)
    return payload


def match_payload(result: MatchResult, *, with_distance: bool = False) -> dict:
    explanation = result.explanation
    return {
        "placements": [placement_payload(p, with_distance=with_distance) for p in result.placements],
        "explanation": {"considered": explanation.considered, "excluded": dict(explanation.excluded),
                        "matched": explanation.matched},
    }


def parse_match_request(data) -> tuple[PlacementRequest, int]:
    """Validate the body; every invalid field is reported at once."""
    errors, placement_request, limit = {}, None, DEFAULT_LIMIT
    try:
        placement_request = parse_placement_request(data, allowed_extra={"limit"})
    except InvalidInput as exc:
        errors = exc.errors
    if isinstance(data, Mapping) and "limit" in data:
        try:
            limit = inputs.integer(data["limit"], low=1, high=MAX_LIMIT)
        except BadValue as exc:
            errors = errors | {"limit": exc.errors}
    if errors:
        raise InvalidInput(errors)
    return placement_request, limit


class MatchView(APIView):
    """Ranked placements for a placement request, with how many offers each rule excluded."""

    @extend_schema(request=MatchRequestSerializer, responses={200: MatchAnswerSerializer, 400: ErrorsSerializer})
    def post(self, request):
        placement_request, limit = parse_match_request(request.data)
        result = placements_for(placement_request, request_workspace_id(request), limit=limit)
        return Response(match_payload(result, with_distance=placement_request.near is not None))
