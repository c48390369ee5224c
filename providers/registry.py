"""Adapter kind → class, resolved lazily so that importing the registry pulls in no cloud SDK."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .base import ProviderAdapter

ADAPTERS: dict[str, str] = {
    "aws": "providers.aws.AwsAdapter",
    "lambda": "providers.lambda_cloud.LambdaCloudAdapter",
    "partner_api": "providers.partner_api.PartnerApiAdapter",
    "local": "providers.local.LocalAdapter",
}


def adapter_class(kind: str) -> type:
    try:
        dotted = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"no adapter for partner kind {kind!r}") from None
    module_name, _, class_name = dotted.rpartition(".")
    return getattr(import_module(module_name), class_name)


def get_adapter(kind: str, *, base_url: str = "", credentials: dict | None = None, **options: Any) -> ProviderAdapter:
    """Build the adapter for a partner kind from its API base URL, decrypted credentials and options."""
    return adapter_class(kind)(base_url=base_url, credentials=credentials or {}, **options)
