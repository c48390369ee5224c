"""`Authorization: Bearer <key>` authentication: keys are stored as SHA-256 hashes, looked up by prefix
(through a short cache: see marketplace.services.api_keys)."""

from rest_framework import authentication, exceptions

from marketplace.services.api_keys import authenticate_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <api key>'.")
        api_key = authenticate_api_key(token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        request.api_key = api_key  # its workspace is loaded when a view asks (request_workspace)
        return (api_key.user, api_key)

    def authenticate_header(self, request):
        return self.keyword
