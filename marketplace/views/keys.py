"""Workspace API keys (owners only): create (the plain key is shown once), list, revoke."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.models import ApiKey, Role
from marketplace.services.api_keys import api_key_create, api_key_revoke

from .access import workspace_required


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100, initial="default",
                           help_text="What uses it, e.g. “CI pipeline” — you cannot see the key again later.")


def _keys_page(request: HttpRequest, form: ApiKeyForm, status: int = 200) -> HttpResponse:
    keys = ApiKey.objects.filter(workspace=request.access.workspace).select_related("user").order_by(
        "revoked_at", "-created_at")
    return render(request, "marketplace/keys.html", {"keys": keys, "form": form}, status=status)


@workspace_required(min_role=Role.OWNER)
@require_http_methods(["GET"])
def key_list(request: HttpRequest) -> HttpResponse:
    return _keys_page(request, ApiKeyForm())


@workspace_required(min_role=Role.OWNER)
@require_POST
def key_create(request: HttpRequest) -> HttpResponse:
    """Answer with the plain key itself: it is never stored, so this page is the only place it appears."""
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form, status=400)
    key, token = api_key_create(workspace=request.access.workspace, user=request.user, name=form.cleaned_data["name"])
    response = render(request, "marketplace/key_created.html", {"key": key, "token": token})
    response["Cache-Control"] = "no-store"
    return response


@workspace_required(min_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    """GET asks for confirmation, POST revokes (idempotent)."""
    key = get_object_or_404(ApiKey, pk=key_id, workspace=request.access.workspace)
    if request.method == "GET":
        return render(request, "marketplace/key_revoke.html", {"key": key})
    api_key_revoke(key=key)
    messages.success(request, f"Key {key.prefix}… “{key.name}” is revoked; requests using it now fail.")
    return redirect("dashboard:keys")
