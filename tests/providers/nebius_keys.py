"""A service account's authorized key for the simulated Nebius API, registered the way an operator registers one
(`nebius.iam.v1.AuthPublicKeyService/Create`, authorized by an IAM token), and the adapter credentials that use it."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from nebius.aio.channel import NoCredentials
from nebius.api.nebius.common.v1 import ResourceMetadata
from nebius.api.nebius.iam.v1 import Account, AuthPublicKeyServiceClient, AuthPublicKeySpec, CreateAuthPublicKeyRequest
from nebius.base.options import INSECURE
from nebius.base.resolver import Constant
from nebius.sdk import SDK

from providers.simulator.nebius_grpc import project_id, tenant_id
from providers.simulator.nebius_iam import service_account_id


def private_key_pem(key: rsa.RSAPrivateKey | None = None) -> str:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def register_key(nebius_url: str, slug: str, region: str, key: rsa.RSAPrivateKey) -> str:
    """The public key id Nebius gives the key's public half, registered for the partner's service account."""
    sdk = SDK(credentials=NoCredentials(), resolver=Constant(nebius_url.removeprefix("http://")),
              options=[(INSECURE, True)], user_agent_prefix="gpu-broker-tests/1")
    try:
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        request = CreateAuthPublicKeyRequest(
            metadata=ResourceMetadata(parent_id=project_id(slug, region)),
            spec=AuthPublicKeySpec(account=Account(service_account=Account.ServiceAccount(id=service_account_id(slug))),
                                   data=public))
        return AuthPublicKeyServiceClient(sdk).create(
            request, metadata=[("authorization", f"Bearer sim-{slug}")]).wait().resource_id
    finally:
        sdk.sync_close()


def service_account_credentials(nebius_url: str, slug: str, region: str) -> dict:
    """A fresh key pair whose public half is registered: the credentials an operator onboards."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"tenant_id": tenant_id(slug), "service_account_id": service_account_id(slug),
            "public_key_id": register_key(nebius_url, slug, region, key), "private_key": private_key_pem(key)}
