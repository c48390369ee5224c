"""Workspace members: everyone sees who is in; owners add people, change roles and remove them."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from marketplace.models import ApiKey, Membership, Role
from marketplace.services.members import MemberError, member_add, member_remove, member_set_role

from .access import workspace_required


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="E-mail", max_length=254,
                             help_text="The address they signed up with; they need an account first.",
                             widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


def _label(membership: Membership) -> str:
    return membership.user.email or membership.user.username


def _members_page(request: HttpRequest, *, add_form: MemberAddForm | None = None,
                  row_error: tuple[int, str] | None = None, status: int = 200) -> HttpResponse:
    members = (Membership.objects.filter(workspace=request.access.workspace).select_related("user")
               .order_by("user__email", "user__username"))
    return render(request, "marketplace/members.html", {
        "members": members, "roles": Role.choices, "add_form": add_form or MemberAddForm(),
        "error_for": row_error[0] if row_error else None, "row_error": row_error[1] if row_error else "",
    }, status=status)


@workspace_required(min_role=Role.VIEWER)
@require_http_methods(["GET"])
def member_list(request: HttpRequest) -> HttpResponse:
    return _members_page(request)


@workspace_required(min_role=Role.OWNER)
@require_POST
def member_add_view(request: HttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership = member_add(workspace=request.access.workspace, email=form.cleaned_data["email"],
                                    role=form.cleaned_data["role"])
        except MemberError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f"{_label(membership)} joined as {membership.role}.")
            return redirect("dashboard:members")
    return _members_page(request, add_form=form, status=400)


@workspace_required(min_role=Role.OWNER)
@require_POST
def member_role_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    target = get_object_or_404(Membership, pk=membership_id, workspace=request.access.workspace)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, row_error=(target.pk, "Choose one of the listed roles."), status=400)
    try:
        membership = member_set_role(workspace=request.access.workspace, membership_id=target.pk,
                                     role=form.cleaned_data["role"])
    except Membership.DoesNotExist:
        raise Http404 from None
    except MemberError as error:
        return _members_page(request, row_error=(target.pk, error.message), status=400)
    messages.success(request, f"{_label(membership)} is now {membership.role}.")
    return redirect("dashboard:members")


@workspace_required(min_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def member_remove_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    """GET asks for confirmation, POST removes."""
    target = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id,
                               workspace=request.access.workspace)
    context = {"member": target, "active_keys": ApiKey.objects.filter(
        workspace=request.access.workspace, user_id=target.user_id, revoked_at__isnull=True).count()}
    if request.method == "GET":
        return render(request, "marketplace/member_remove.html", context)
    try:
        member_remove(workspace=request.access.workspace, membership_id=target.pk)
    except Membership.DoesNotExist:
        raise Http404 from None
    except MemberError as error:
        return render(request, "marketplace/member_remove.html", {**context, "error": error.message}, status=400)
    messages.success(request, f"{_label(target)} no longer has access to “{request.access.workspace.name}”.")
    if target.user_id == request.user.pk:
        return redirect("dashboard:offers")
    return redirect("dashboard:members")
