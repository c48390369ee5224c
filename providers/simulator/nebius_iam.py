"""The Nebius IAM services behind service-account credentials, in the API's own messages (github.com/nebius/api,
nebius/iam/v1): `AuthPublicKeyService/Create` registers an authorized key, the public half of a key pair, for a
service account; `TokenExchangeService/Exchange` (RFC 8693) takes a JWT the service account signed with the private
half and answers an IAM token.

The JWT is checked as Nebius checks the one the SDK makes (`nebius.base.service_account.ServiceAccount`): RS256,
`kid` a registered key, the signature verified with that key's public half, `iss` and `sub` the key's service
account, `aud` the token service, unexpired (by the wall clock: the signer's own), at most an hour long. Anything
else is UNAUTHENTICATED. The simulator has one service account per partner, `serviceaccount-<slug>`; the token it
issues is the partner's IAM token. Registered keys live as long as the simulator does.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from typing import TYPE_CHECKING

import grpc
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from nebius.api.nebius.common.v1 import Operation
from nebius.api.nebius.iam.v1 import CreateAuthPublicKeyRequest, CreateTokenResponse, ExchangeTokenRequest

from .nebius_status import Abort, finished, invalid, missing

if TYPE_CHECKING:
    from .nebius_grpc import NebiusApi

KEY_PREFIX, ACCOUNT_PREFIX = "publickey-", "serviceaccount-"
AUDIENCE = "token-service.iam.new.nebiuscloud.net"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_LIFETIME_S = 12 * 3600
MAX_JWT_LIFETIME_S = 3600
CLOCK_SKEW_S = 60


def service_account_id(slug: str) -> str:
    return ACCOUNT_PREFIX + slug


class NebiusIam:
    def __init__(self, api: NebiusApi):
        self.api, self.store = api, api.store
        self._keys: dict[str, tuple[str, str, rsa.RSAPublicKey]] = {}  # key id → (slug, service account, public key)
        self._lock = threading.Lock()

    def create_public_key(self, request: CreateAuthPublicKeyRequest, context) -> Operation:
        slug, _ = self.api.project(request.metadata.parent_id)
        self.api.enter(slug, context)
        account = request.spec.account.service_account
        if account is None or account.id != service_account_id(slug):
            raise missing(account.id if account is not None else "(none)", "service account", "iam")
        try:
            public = serialization.load_pem_public_key(request.spec.data.encode())
        except (ValueError, UnsupportedAlgorithm):
            public = None
        if not isinstance(public, rsa.RSAPublicKey):
            raise invalid("spec.data", "must be a PEM-encoded RSA public key", "iam")
        key_id = KEY_PREFIX + uuid.uuid4().hex
        with self._lock:
            self._keys[key_id] = (slug, account.id, public)
        return finished(f"iamoperation-{key_id}", "Create auth public key", key_id, self.store.clock())

    def exchange(self, request: ExchangeTokenRequest, context) -> CreateTokenResponse:
        if request.grant_type != GRANT_TYPE:
            raise invalid("grant_type", f"must be {GRANT_TYPE}", "iam")
        if request.subject_token_type != JWT_TOKEN_TYPE:
            raise invalid("subject_token_type", f"must be {JWT_TOKEN_TYPE}", "iam")
        if request.requested_token_type not in ("", ACCESS_TOKEN_TYPE):
            raise invalid("requested_token_type", f"must be {ACCESS_TOKEN_TYPE}", "iam")
        slug = self._signer(request.subject_token)
        self.api.faults(slug)
        return CreateTokenResponse(access_token=self.store.token(slug), issued_token_type=ACCESS_TOKEN_TYPE,
                                   token_type="Bearer", expires_in=TOKEN_LIFETIME_S)

    def _signer(self, token: str) -> str:
        """The partner whose service account signed `token`; UNAUTHENTICATED unless the JWT holds up."""
        try:
            header_part, claims_part, signature_part = token.split(".")
            header, claims = json.loads(_unb64(header_part)), json.loads(_unb64(claims_part))
            signature = _unb64(signature_part)
        except ValueError:
            raise _refused("the subject token is not a JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
            raise _refused("the subject token is not an RS256 JWT")
        with self._lock:
            key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise _refused("the JWT names no registered public key")
        slug, account, public = key
        try:
            public.verify(signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _refused("the JWT signature does not match the public key") from None
        if (claims.get("iss"), claims.get("sub"), claims.get("aud")) != (account, account, AUDIENCE):
            raise _refused("the JWT's iss, sub or aud is not the key's service account and the token service")
        issued, expires, now = claims.get("iat"), claims.get("exp"), time.time()
        if not (isinstance(issued, int | float) and isinstance(expires, int | float)
                and issued - CLOCK_SKEW_S <= now < expires and expires - issued <= MAX_JWT_LIFETIME_S):
            raise _refused("the JWT is expired, not yet valid or valid for over an hour")
        return slug


def _refused(message: str) -> Abort:
    return Abort(grpc.StatusCode.UNAUTHENTICATED, message)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
