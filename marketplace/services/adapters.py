"""The one place a Partner row becomes a provider adapter (credentials decrypted only here)."""


from marketplace.models import Partner, PartnerKind
from providers.base import INVALID_REQUEST, ProviderAdapter, ProviderError
from providers.registry import get_adapter


def adapter_for(partner: Partner) -> ProviderAdapter:
    if partner.kind == PartnerKind.CATALOG:
        raise ProviderError(INVALID_REQUEST, f"partner {partner.slug} lists prices but has no live API to provision")
    options = dict(partner.adapter_options or {})
    return get_adapter(partner.kind, base_url=partner.base_url, credentials=partner.credentials, **options)
