"""The one place a Partner row becomes a provider adapter (credentials decrypted only here)."""

import hashlib

from django.conf import settings

from marketplace.hooks import adapter_factory
from marketplace.models import Partner, PartnerKind
from providers.base import INVALID_REQUEST, OWNER_TAG, NodeInfo, ProviderAdapter, ProviderError
from providers.registry import get_adapter

# Adapters that call a partner over the network take a timeout; the local adapter does not.
NETWORK_KINDS = frozenset({PartnerKind.AWS, PartnerKind.LAMBDA, PartnerKind.PARTNER_API, PartnerKind.SHADEFORM,
                           PartnerKind.VAST, PartnerKind.VERDA, PartnerKind.HYPERSTACK,
                           PartnerKind.GCP, PartnerKind.LIUM, PartnerKind.JARVISLABS, PartnerKind.MITHRIL,
                           PartnerKind.NEBIUS, PartnerKind.YOTTA,
                           PartnerKind.HYPERBOLIC, PartnerKind.SEEWEB})


def installation_id() -> str:
    """This broker installation's id (BROKER_INSTALLATION_ID, else derived from its own SECRET_KEY)."""
    return settings.BROKER_INSTALLATION_ID or hashlib.sha256(
        ("installation:" + settings.SECRET_KEY).encode()).hexdigest()[:8]


def owner_tag(partner: Partner) -> dict[str, str]:
    """The tag naming this installation and this partner row on every node it launches."""
    return {OWNER_TAG: f"{installation_id()}p{partner.pk}"}


def owned_by(partner: Partner, node: NodeInfo) -> bool:
    """Whether this installation launched `node` through this partner row (only those are reconciled)."""
    return node.owner == owner_tag(partner)[OWNER_TAG]


def adapter_for(partner: Partner) -> ProviderAdapter:
    """The partner's adapter; network calls time out after PARTNER_HTTP_TIMEOUT_S unless its options say."""
    if partner.kind == PartnerKind.CATALOG:
        raise ProviderError(INVALID_REQUEST, f"partner {partner.slug} lists prices but has no live API to provision")
    factory = adapter_factory(partner.kind)
    if factory is not None:
        return factory(partner)
    options = dict(partner.adapter_options or {})
    if partner.kind in NETWORK_KINDS:
        options.setdefault("timeout", settings.PARTNER_HTTP_TIMEOUT_S)
    return get_adapter(partner.kind, base_url=partner.base_url, credentials=partner.credentials, **options)
