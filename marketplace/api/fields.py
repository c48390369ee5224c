"""Small serializer pieces shared by the API's output serializers."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class BlankAsNull(serializers.CharField):
    """A text column where "" means "none": rendered as null."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value) -> str | None:
        return str(value) or None


class EventSerializer(serializers.Serializer):
    """A state change: `at`, `from`, `to`, `reason` (DESIGN §4)."""

    at = serializers.DateTimeField()
    from_state = serializers.CharField(source="from_state", allow_blank=True)
    to = serializers.CharField(source="to_state")
    reason = serializers.CharField(allow_blank=True)

    def get_fields(self) -> dict:
        # `from` is a Python keyword, so it is declared as from_state and renamed here, in place.
        return {("from" if name == "from_state" else name): field for name, field in super().get_fields().items()}


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberAsIs(serializers.Field):
    """A number stored in a JSON column, rendered as it was sent (an int stays an int)."""

    def to_representation(self, value) -> float | int:
        return value
