"""Errors mapped to HTTP once, for the whole API (DESIGN §5).

One body shape: 400 → `{"errors": {field: [messages]}}`, every other 4xx → `{"detail": …}` (a 409 may add
fields, e.g. the matching explanation). Services raise `marketplace.errors` kinds; this is the only place
that knows their status codes.
"""

from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.errors import Conflict, DomainError, InvalidInput, KeyReused, OverBudget
from marketplace.placement import flatten_errors

STATUS_OF = ((InvalidInput, status.HTTP_400_BAD_REQUEST), (OverBudget, status.HTTP_402_PAYMENT_REQUIRED),
             (Conflict, status.HTTP_409_CONFLICT), (KeyReused, status.HTTP_422_UNPROCESSABLE_ENTITY))


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return domain_response(exc)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_400_BAD_REQUEST:
        errors = exc.detail if isinstance(exc, ValidationError) else {"non_field_errors": [response.data["detail"]]}
        response.data = {"errors": flatten_errors(errors)}
    return response


def domain_response(exc: DomainError) -> Response:
    if isinstance(exc, InvalidInput):
        return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    code = next((code for kind, code in STATUS_OF if isinstance(exc, kind)), status.HTTP_409_CONFLICT)
    return Response({"detail": str(exc), **exc.extra()}, status=code)


class ErrorsSerializer(serializers.Serializer):
    """400: every invalid field, by dotted path (`policy.countries`), with its messages."""

    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class DetailSerializer(serializers.Serializer):
    """401, 402, 403, 404, 422, 429: what went wrong, in words."""

    detail = serializers.CharField()


class ExplanationSerializer(serializers.Serializer):
    """How many offers were considered, how many each rule excluded, how many matched (DESIGN §3)."""

    considered = serializers.IntegerField()
    excluded = serializers.DictField(child=serializers.IntegerField())
    matched = serializers.IntegerField()


class ConflictSerializer(DetailSerializer):
    """409: the detail, plus the explanation when nothing can be placed under the request."""

    explanation = ExplanationSerializer(required=False)
