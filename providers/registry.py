"""Adapter kind → class, resolved lazily so that importing the registry pulls in no cloud SDK."""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from .base import INVALID_REQUEST, ProviderAdapter, ProviderError

ADAPTERS: dict[str, str] = {
    "aws": "providers.aws.AwsAdapter",
    "lambda": "providers.lambda_cloud.LambdaCloudAdapter",
    "partner_api": "providers.partner_api.PartnerApiAdapter",
    "local": "providers.local.LocalAdapter",
    "shadeform": "providers.shadeform.ShadeformAdapter",
    "vast": "providers.vast.VastAdapter",
    "verda": "providers.verda.VerdaAdapter",
    "hyperstack": "providers.hyperstack.HyperstackAdapter",
    "gcp": "providers.gcp.GcpAdapter",
    "lium": "providers.lium.LiumAdapter",
    "jarvislabs": "providers.jarvislabs.JarvisLabsAdapter",
    "mithril": "providers.mithril.MithrilAdapter",
    "nebius": "providers.nebius.NebiusAdapter",
    "yotta": "providers.yotta.YottaAdapter",
    "hyperbolic": "providers.hyperbolic.HyperbolicAdapter",
    "seeweb": "providers.seeweb.SeewebAdapter",
}


def adapter_class(kind: str) -> type:
    try:
        dotted = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"no adapter for partner kind {kind!r}") from None
    module_name, _, class_name = dotted.rpartition(".")
    return getattr(import_module(module_name), class_name)


def option_names(kind: str) -> set[str]:
    """The adapter options a kind accepts (its constructor's keyword arguments beyond URL and credentials)."""
    params = inspect.signature(adapter_class(kind)).parameters
    return {name for name, p in params.items() if p.kind == p.KEYWORD_ONLY} - {"base_url", "credentials"}


def unknown_options(kind: str, options: dict) -> list[str]:
    return sorted(set(options) - option_names(kind))


def get_adapter(kind: str, *, base_url: str = "", credentials: dict | None = None, **options: Any) -> ProviderAdapter:
    """Build the adapter for a partner kind from its API base URL, decrypted credentials and options."""
    if unknown := unknown_options(kind, options):
        raise ProviderError(INVALID_REQUEST, f"unknown adapter option(s) {', '.join(unknown)} for {kind}; "
                                             f"known: {', '.join(sorted(option_names(kind))) or 'none'}")
    try:
        return adapter_class(kind)(base_url=base_url, credentials=credentials or {}, **options)
    except (TypeError, ValueError) as exc:  # an option of the wrong type or value
        raise ProviderError(INVALID_REQUEST, f"adapter options for {kind}: {exc}") from exc
