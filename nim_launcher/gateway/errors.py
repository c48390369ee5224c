"""Errors in the OpenAI format that the official clients parse: {"error": {message, type, code}}."""

from django.http import JsonResponse

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 413: "invalid_request_error",
          405: "invalid_request_error", 502: "upstream_error", 503: "service_unavailable"}


class GatewayError(Exception):
    def __init__(self, status: int, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def response(self) -> JsonResponse:
        body: dict = {"error": {"message": self.message, "type": _TYPES.get(self.status, "api_error"),
                                "param": self.param, "code": self.code}}
        if self.status == 400 and self.param:
            body["errors"] = {self.param: [self.message]}
        response = JsonResponse(body, status=self.status)
        if self.status == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response


def refused(error) -> JsonResponse:
    """A body or URL refused before any route ran (marketplace.json_body.BodyError), in OpenAI's shape."""
    code = "request_too_large" if error.status == 413 else "invalid_request"
    return GatewayError(error.status, error.message, code=code, param=error.field).response()
