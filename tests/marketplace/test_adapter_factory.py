"""The adapter factory: PARTNER_HTTP_TIMEOUT_S reaches every network adapter; a partner's own option wins."""

from marketplace.models import Partner, PartnerKind, PartnerStatus
from marketplace.services.adapters import adapter_for


def _partner(**fields) -> Partner:
    partner = Partner(slug="acme", name="Acme", kind=PartnerKind.PARTNER_API, base_url="http://127.0.0.1:9/v1",
                      status=PartnerStatus.ACTIVE, **fields)
    partner.credentials = {"api_key": "k"}
    return partner


def test_the_setting_is_the_partner_http_timeout(settings):
    settings.PARTNER_HTTP_TIMEOUT_S = 3.5
    assert adapter_for(_partner()).http.timeout == 3.5


def test_a_partners_own_timeout_option_wins(settings):
    settings.PARTNER_HTTP_TIMEOUT_S = 3.5
    assert adapter_for(_partner(adapter_options={"timeout": 20})).http.timeout == 20


def test_the_local_adapter_takes_no_timeout(settings, tmp_path):
    partner = Partner(slug="here", name="Here", kind=PartnerKind.LOCAL, adapter_options={"state_dir": str(tmp_path)})
    assert adapter_for(partner).kind == "local"
