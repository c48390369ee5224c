"""The API's JSON parser: marketplace.json_body's limits, errors in the API's shape naming the field."""

from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import JSONParser

from marketplace.json_body import BodyError, load_json, max_body_bytes, too_large


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(max_body_bytes() + 1) if stream is not None else b""
        try:
            if len(raw) > max_body_bytes():
                raise too_large()
            return load_json(raw)
        except BodyError as exc:
            if exc.status == 413:
                raise PayloadTooLarge(exc.message) from None
            raise ValidationError({exc.field: [exc.message]}) from None
