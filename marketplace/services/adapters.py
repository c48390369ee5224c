"""The one place a Partner row becomes a provider adapter (credentials decrypted only here)."""

from django.conf import settings

from marketplace.models import Partner, PartnerKind
from providers.base import INVALID_REQUEST, ProviderAdapter, ProviderError
from providers.registry import get_adapter

# Adapters that call a partner over the network take a timeout; the local adapter does not.
NETWORK_KINDS = frozenset({PartnerKind.AWS, PartnerKind.LAMBDA, PartnerKind.PARTNER_API})


def adapter_for(partner: Partner) -> ProviderAdapter:
    """The partner's adapter; network calls time out after PARTNER_HTTP_TIMEOUT_S unless its options say."""
    if partner.kind == PartnerKind.CATALOG:
        raise ProviderError(INVALID_REQUEST, f"partner {partner.slug} lists prices but has no live API to provision")
    options = dict(partner.adapter_options or {})
    if partner.kind in NETWORK_KINDS:
        options.setdefault("timeout", settings.PARTNER_HTTP_TIMEOUT_S)
    return get_adapter(partner.kind, base_url=partner.base_url, credentials=partner.credentials, **options)
