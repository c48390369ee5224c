"""`Authorization: Bearer <key>` authentication: keys are stored as SHA-256 hashes, looked up by prefix."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from marketplace.services.api_keys import resolve_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <api key>'.")
        api_key = resolve_api_key(token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if api_key.last_used_at is None or (timezone.now() - api_key.last_used_at).total_seconds() > 60:
            type(api_key).objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
        request.workspace = api_key.workspace
        request.api_key = api_key
        return (api_key.user, api_key)

    def authenticate_header(self, request):
        return self.keyword
