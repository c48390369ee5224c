"""One error shape for the whole API: 400 → {"errors": {field: [messages]}}, others → {"detail": …}."""

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        detail = response.data
        if isinstance(detail, list):
            detail = {"non_field_errors": detail}
        response.data = {"errors": detail}
        response.status_code = status.HTTP_400_BAD_REQUEST
    return response
