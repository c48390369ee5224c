"""The OpenAPI document: the API key scheme, and the error answers every operation can give.

Operations declare their own bodies and the domain errors they can raise (402, 409, 422); this adds the
answers that follow from the view itself: 400 when it takes a body, 401/403 when it needs a caller, 404 on
an object's path, 429 when it is rate-limited. Every one has the body shape of `marketplace/api/errors.py`.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

from .errors import DetailSerializer, ErrorsSerializer


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "marketplace.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Workspace API key: `Bearer gpub_…`"}


class BrokerAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, serializer in self._implied_errors().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        return responses

    def _implied_errors(self) -> dict:
        view, errors = self.view, {}
        if self.method in ("POST", "PUT", "PATCH") and self._get_request_body() is not None:
            errors["400"] = ErrorsSerializer
        if view.authentication_classes and not all(p is AllowAny for p in view.permission_classes):
            errors["401"] = errors["403"] = DetailSerializer
        if "{" in self.path:
            errors["404"] = DetailSerializer
        if getattr(view, "throttle_classes", None) and self.method not in ("GET", "HEAD", "OPTIONS"):
            errors["429"] = DetailSerializer
        return errors
