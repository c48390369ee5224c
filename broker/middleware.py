"""Refuse what no view can handle before any view runs: NUL bytes in the URL, bodies over the size limit.

Both answer in the shape the caller's API speaks: OpenAI's error object on the gateway (`/v1/`), the API's
`{"errors": {field: [message]}}` everywhere else.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, JsonResponse

from marketplace.json_body import BodyError, max_body_bytes, too_large

GATEWAY_PREFIX = "/v1/"


def refusal(request: HttpRequest, error: BodyError) -> JsonResponse:
    """`error` as a response in the caller's API shape."""
    if request.path.startswith(GATEWAY_PREFIX):
        from nim_launcher.gateway.errors import refused

        return refused(error)
    return JsonResponse({"errors": {error.field: [error.message]}}, status=error.status)


def check_request(request: HttpRequest) -> BodyError | None:
    query = request.META.get("QUERY_STRING", "")
    if "\x00" in request.path or "%00" in query or "\x00" in query:
        return BodyError(400, "NUL characters are not allowed in the URL.", field="url")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return BodyError(400, "Content-Length must be a number.", field="body")
    return too_large() if length > max_body_bytes() else None


class RequestGuardMiddleware:
    sync_capable = async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self._acall(request)
        error = check_request(request)
        return refusal(request, error) if error else self.get_response(request)

    async def _acall(self, request: HttpRequest):
        error = check_request(request)
        return refusal(request, error) if error else await self.get_response(request)
