"""The create body of a pod (DESIGN §12): the placement request fields plus the pod's own; every error at once."""

import re
from decimal import Decimal

from rest_framework import serializers

from marketplace.api.placement import PlacementRequestSerializer
from marketplace.errors import InvalidInput
from marketplace.placement import MAX_HOURS_LIMIT, parse_placement_request
from pods.services.pods import PodInput
from pods.ssh_keys import FIELD as SSH_KEY_FIELD
from pods.ssh_keys import parse_public_key

# `name@sha256:<64 hex>`: what a node pulls is the image whose content has that hash, never a moving tag.
PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
MAX_IDLE_MINUTES = 7 * 24 * 60


class PodFieldsSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=63)
    jupyter = serializers.BooleanField(required=False, default=False)
    image = serializers.CharField(required=False, allow_blank=True, default="", max_length=512,
                                  help_text="JupyterLab image pinned by digest (name@sha256:…); needs jupyter")
    idle_timeout_minutes = serializers.IntegerField(required=False, default=60, min_value=0,
                                                    max_value=MAX_IDLE_MINUTES, help_text="0 = never")
    max_hours = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"),
                                         max_value=MAX_HOURS_LIMIT, default=Decimal(24), coerce_to_string=False)

    def validate_image(self, value: str) -> str:
        if value and not PINNED_IMAGE.match(value):
            raise serializers.ValidationError("must be pinned by digest: name@sha256:<64 hex digits>")
        return value

    def validate(self, attrs):
        if attrs.get("image") and not attrs.get("jupyter"):
            raise serializers.ValidationError({"image": ["an image runs JupyterLab: set jupyter to true, or leave "
                                                         "image out and work on the node over SSH"]})
        return attrs


class PodRequestSerializer(PodFieldsSerializer, PlacementRequestSerializer):
    """The create body as OpenAPI sees it (the parsing is `parse_pod_request`)."""

    ssh_public_key = serializers.CharField(max_length=16384, help_text="OpenSSH public key for the login user")


POD_FIELDS = (*PodFieldsSerializer().fields, SSH_KEY_FIELD)


def parse_pod_request(data) -> PodInput:
    errors: dict[str, list[str]] = {}
    try:
        key = parse_public_key(data.get(SSH_KEY_FIELD) if isinstance(data, dict) else None)
    except InvalidInput as exc:
        errors |= exc.errors
    try:
        request = parse_placement_request(data, allowed_extra=POD_FIELDS)
        if request.nodes != 1:
            errors["nodes"] = ["a pod is one node"]
    except InvalidInput as exc:
        errors |= exc.errors
    own = PodFieldsSerializer(data={k: v for k, v in data.items() if k in PodFieldsSerializer().fields}
                              if isinstance(data, dict) else {})
    if not own.is_valid():
        errors |= {name: [str(m) for m in messages] for name, messages in own.errors.items()}
    if errors:
        raise InvalidInput(errors)
    fields = own.validated_data
    return PodInput(name=fields["name"], request=request, max_hours=fields["max_hours"], ssh_public_key=key,
                    jupyter=fields["jupyter"], image=fields["image"],
                    idle_timeout_minutes=fields["idle_timeout_minutes"])
