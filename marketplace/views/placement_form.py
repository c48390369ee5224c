"""The placement request and policy as a dashboard form (DESIGN §2), shared by the rent and deploy pages.

The form only collects text: it turns the inputs into the request's JSON shape, and the shared
validators (`parse_placement_request`, the API serializers) decide what is valid, so the dashboard
accepts and refuses exactly what the API and CLI do. Their errors, keyed by dotted field path
(`policy.countries`), are put back on the input that caused them.
"""

import re
from collections.abc import Iterable, Mapping

from django import forms

from marketplace.models import GpuModel, Interconnect, Partner, PartnerStatus, Region

LIST_HELP = "Comma-separated; empty means no restriction."
# Dotted API field → form field, where the names differ.
FIELD_FOR = {"policy.partners.allow": "partners_allow", "policy.partners.deny": "partners_deny",
             "replicas.min": "replicas_min", "replicas.max": "replicas_max"}


def split_list(value: str) -> list[str]:
    """'DE, FR  NL' → ['DE', 'FR', 'NL']."""
    return [part for part in re.split(r"[,\s]+", value or "") if part]


def _text(label: str, *, help_text: str = "", placeholder: str = "", numeric: str = "") -> forms.CharField:
    attrs = {"placeholder": placeholder} if placeholder else {}
    widget = forms.TextInput(attrs=attrs)
    if numeric:
        widget = forms.NumberInput(attrs={**attrs, "step": numeric, "min": "0",
                                          "inputmode": "decimal" if "." in numeric else "numeric"})
    return forms.CharField(label=label, required=False, help_text=help_text, widget=widget)


def _checks(label: str, help_text: str = "") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(label=label, required=False, help_text=help_text,
                                     widget=forms.CheckboxSelectMultiple)


def _catalogue_jurisdictions() -> list[str]:
    codes = (Region.objects.filter(partner__status=PartnerStatus.ACTIVE, partner__workspace__isnull=True)
             .exclude(jurisdiction="").values_list("jurisdiction", flat=True).distinct())
    return sorted(set(codes))


def _hq_jurisdictions() -> list[str]:
    codes = Partner.objects.exclude(hq_jurisdiction="").values_list("hq_jurisdiction", flat=True).distinct()
    return sorted(set(codes))


class PolicyForm(forms.Form):
    """Where the nodes may run and who may run them: hard rules, never relaxed by failover."""

    jurisdictions = _checks("Jurisdictions", "Legal area of the data centre; none ticked = anywhere.")
    countries = _text("Countries", help_text=f"ISO codes, e.g. DE, FR. {LIST_HELP}", placeholder="DE, FR")
    regions = _text("Regions", help_text=f"Partner region codes, e.g. eu-central-1. {LIST_HELP}")
    partners_allow = _text("Only these partners", help_text=f"Partner slugs. {LIST_HELP}", placeholder="nebius, verda")
    partners_deny = _text("Never these partners", help_text=f"Partner slugs. {LIST_HELP}")
    partner_hq_jurisdictions = _checks("Partner headquarters in",
                                       "Who operates the cloud, beyond where it runs; none ticked = any.")
    certifications = _text("Required certifications", help_text=f"e.g. ISO27001, SOC2. {LIST_HELP}")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["jurisdictions"].choices = [(c, c) for c in _catalogue_jurisdictions()]
        self.fields["partner_hq_jurisdictions"].choices = [(c, c) for c in _hq_jurisdictions()]

    def policy_body(self) -> dict:
        data = self.cleaned_data
        return {
            "regions": split_list(data["regions"]), "countries": split_list(data["countries"]),
            "jurisdictions": list(data["jurisdictions"]),
            "partners": {"allow": split_list(data["partners_allow"]), "deny": split_list(data["partners_deny"])},
            "partner_hq_jurisdictions": list(data["partner_hq_jurisdictions"]),
            "certifications": split_list(data["certifications"]),
        }

    def add_api_errors(self, errors: Mapping[str, Iterable[str]]) -> None:
        """Put each `{dotted.field: [messages]}` error on the input it names (or on the whole form)."""
        for key, messages in errors.items():
            name = form_field_for(str(key))
            for message in messages:
                if name in self.fields:
                    self.add_error(name, str(message))
                else:
                    self.add_error(None, f"{key}: {message}" if name != "non_field_errors" else str(message))


def form_field_for(dotted: str) -> str:
    """'policy.countries.1' → 'countries'; 'policy.partners.allow' → 'partners_allow'."""
    path = re.sub(r"\.\d+$", "", dotted)
    if path in FIELD_FOR:
        return FIELD_FOR[path]
    return path.removeprefix("policy.")


def gpu_choices(any_label: str = "Any GPU") -> list[tuple[str, str]]:
    return [("", any_label), *((n, n) for n in GpuModel.objects.order_by("name").values_list("name", flat=True))]


class PlacementForm(PolicyForm):
    """What to rent: node shape and price, plus the policy."""

    field_order = ["gpu", "gpus_per_node", "nodes", "interconnect", "spot", "spot_fallback", "max_price_per_gpu_hour"]

    gpu = forms.ChoiceField(label="GPU", required=False)
    gpus_per_node = _text("GPUs per node", numeric="1", placeholder="1")
    nodes = _text("Nodes", numeric="1", placeholder="1",
                  help_text="More than one rents a gang: all nodes from one partner region.")
    interconnect = forms.ChoiceField(
        label="Interconnect at least", required=False,
        choices=[("", "Any interconnect"), *((c.value, c.value) for c in Interconnect)])
    spot = forms.BooleanField(label="Spot (interruptible, cheaper)", required=False)
    spot_fallback = forms.BooleanField(label="Fall back to on-demand", required=False,
                                       help_text="With spot: take an on-demand node when no spot node is left.")
    max_price_per_gpu_hour = _text("Max price per GPU-hour (USD)", numeric="0.01", placeholder="e.g. 3.50")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gpu"].choices = gpu_choices()

    def placement_body(self) -> dict:
        """The request in the JSON shape of DESIGN §2; empty inputs are left out so defaults apply."""
        data = self.cleaned_data
        body = {"gpu": data["gpu"] or None, "spot": data["spot"], "policy": self.policy_body()}
        if data["spot_fallback"]:
            body["spot_fallback"] = True
        for name in ("gpus_per_node", "nodes", "max_price_per_gpu_hour"):
            if data[name].strip():
                body[name] = data[name].strip()
        if data["interconnect"]:
            body["interconnect"] = data["interconnect"]
        return body
