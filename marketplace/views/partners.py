"""Partner administration (broker staff): list, onboard, verify, sync offers, activate, suspend."""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.api.admin_partners import AdminPartnerSerializer
from marketplace.models import Partner, PartnerKind
from marketplace.placement import flatten_errors
from marketplace.services import partners as partner_services

from .access import staff_required
from .placement_form import split_list

SECRET_FIELDS = ("api_key", "aws_access_key_id", "aws_secret_access_key", "client_id", "client_secret",
                 "service_account_key", "iam_token", "tenant_id", "service_account_id", "public_key_id", "private_key",
                 "org_id", "ssh_private_key")


def _secret(label: str, help_text: str = "") -> forms.CharField:
    # render_value=False: a secret typed once is never sent back to the browser, not even after an error.
    return forms.CharField(label=label, required=False, help_text=help_text, strip=True,
                           widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))


class _WriteOnlyTextarea(forms.Textarea):
    def format_value(self, value):
        return None  # a pasted key is never sent back to the browser, not even after an error


class OnboardForm(forms.Form):
    kind = forms.ChoiceField(label="Adapter kind", choices=PartnerKind.choices, initial=PartnerKind.PARTNER_API)
    slug = forms.CharField(label="Slug", max_length=64, help_text="Short id used in policies, e.g. “nimbus”.")
    name = forms.CharField(label="Name", max_length=128)
    base_url = forms.CharField(label="API base URL", required=False, widget=forms.URLInput(
        attrs={"placeholder": "https://api.partner.example/v1"}))
    hq_country = forms.CharField(label="Headquarters country", required=False, max_length=2,
                                 help_text="ISO code, e.g. DE; sets the HQ jurisdiction.")
    certifications = forms.CharField(label="Certifications", required=False, help_text="e.g. ISO27001, SOC2")
    api_key = _secret("API key", "For Partner API, Lambda, Shadeform (X-API-KEY), Vast.ai, Hyperstack, Lium (X-API-KEY), "
                      "JarvisLabs, Mithril (fkey_…), Yotta (X-API-KEY), Hyperbolic and Seeweb (its"
                      " X-APITOKEN API token) partners. "
                      "Stored encrypted; never shown again.")
    aws_access_key_id = _secret("AWS access key id", "AWS partners only.")
    aws_secret_access_key = _secret("AWS secret access key", "AWS partners only.")
    client_id = _secret("OAuth client id", "Verda (DataCrunch) partners only.")
    client_secret = _secret("OAuth client secret", "Verda (DataCrunch) partners only.")
    service_account_key = forms.CharField(
        label="Service account key (JSON)", required=False, strip=True,
        help_text="Google Cloud partners only: the JSON key file of a service account allowed to manage Compute "
                  "Engine instances and firewalls and to read the Billing Catalog. Stored encrypted; never shown again.",
        widget=_WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}))
    iam_token = _secret("IAM token", "Nebius partners only, for a trial: an IAM access token (it expires). In "
                                     "production give the service account's authorized key below instead.")
    tenant_id = forms.CharField(label="Tenant id", required=False, strip=True,
                                help_text="Nebius partners only: the tenant (tenant-…) whose projects sell the nodes.")
    service_account_id = forms.CharField(
        label="Service account id", required=False, strip=True,
        help_text="Nebius partners only: the service account (serviceaccount-…), in a group with the editor role "
                  "in the tenant's projects (it creates instances and security groups).")
    public_key_id = forms.CharField(label="Public key id", required=False, strip=True,
                                    help_text="Nebius partners only: the id (publickey-…) of the service account's "
                                              "authorized key.")
    private_key = forms.CharField(
        label="Private key (PEM)", required=False, strip=True,
        help_text="Nebius partners only: the authorized key's RSA private key. Stored encrypted; never shown again.",
        widget=_WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}))
    org_id = forms.CharField(label="Organization id", required=False, strip=True,
                             help_text="Yotta partners only: the organization the API key belongs to (its key check "
                                       "asks for it).")
    ssh_private_key = forms.CharField(
        label="SSH private key", required=False, strip=True,
        help_text="Hyperbolic and Seeweb partners only: the private half (unencrypted OpenSSH or PEM) of the SSH key "
                  "registered in the account (Seeweb: under the label of the adapter setting ssh_key_name, gpu-broker "
                  "unless set, registered on the first launch if missing); the broker logs in with it to start each "
                  "node's plan. Stored encrypted; never shown again.",
        widget=_WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}))

    def body(self) -> dict:
        data = self.cleaned_data
        credentials = {name: data[name] for name in SECRET_FIELDS if data[name]}
        return {"kind": data["kind"], "slug": data["slug"].strip(), "name": data["name"].strip(),
                "base_url": data["base_url"].strip(), "hq_country": data["hq_country"].strip(),
                "certifications": split_list(data["certifications"]), "credentials": credentials}


def _page(request: HttpRequest, form: OnboardForm, status: int = 200) -> HttpResponse:
    partners = Partner.objects.annotate(offer_count=Count("offers")).order_by("status", "slug")
    return render(request, "marketplace/partners.html", {"partners": partners, "form": form}, status=status)


@staff_required
@require_http_methods(["GET"])
def partner_list(request: HttpRequest) -> HttpResponse:
    return _page(request, OnboardForm())


@staff_required
@require_POST
def partner_onboard(request: HttpRequest) -> HttpResponse:
    """Create a pending partner through the admin API's serializer (same checks, same messages)."""
    form = OnboardForm(request.POST)
    if form.is_valid():
        serializer = AdminPartnerSerializer(data=form.body())
        if serializer.is_valid():
            partner = partner_services.partner_create(**serializer.validated_data)
            messages.success(request, f"Partner “{partner.slug}” added as pending. Verify it next.")
            return redirect("dashboard:partners")
        for field, errors in flatten_errors(serializer.errors).items():
            for error in errors:
                form.add_error(field.split(".")[0] if field.split(".")[0] in form.fields else None, error)
    return _page(request, form, status=400)


def _act(request: HttpRequest, slug: str, action: Callable[[Partner], tuple[bool, str]]) -> HttpResponse:
    partner = get_object_or_404(Partner, slug=slug)
    try:
        ok, message = action(partner)
    except partner_services.PartnerStateConflict as exc:
        ok, message = False, f"{partner.slug}: {exc}."
    (messages.success if ok else messages.error)(request, message)
    return redirect("dashboard:partners")


def _verify(partner: Partner) -> tuple[bool, str]:
    result = partner_services.partner_verify(partner=partner)
    if result["ok"]:
        return True, f"{partner.slug} answered: {result['offers']} offers ({', '.join(result['gpus']) or 'no GPUs'})."
    return False, f"{partner.slug} did not verify: {result['error_kind']}: {result['message']}"


def _sync(partner: Partner) -> tuple[bool, str]:
    if partner.kind == PartnerKind.CATALOG:
        return False, f"{partner.slug} is catalogue-only: there is no live API to sync from."
    report = partner_services.partner_sync(partner=partner)
    if not report.ok:
        return False, f"{partner.slug} sync failed ({report.error}); its offers are marked stale."
    return True, (f"{partner.slug} synced: {report.created} new, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {report.removed} removed offers.")


def _activate(partner: Partner) -> tuple[bool, str]:
    partner_services.partner_activate(partner=partner)
    return True, f"{partner.slug} is active: its offers are on the marketplace."


def _suspend(partner: Partner) -> tuple[bool, str]:
    partner_services.partner_suspend(partner=partner)
    return True, f"{partner.slug} is suspended: its offers left the marketplace."


ACTIONS = {"verify": _verify, "sync": _sync, "activate": _activate, "suspend": _suspend}


@staff_required
@require_POST
def partner_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    return _act(request, slug, ACTIONS[action])
