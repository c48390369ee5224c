"""Who may do what in the dashboard: the active workspace and the role ladder viewer < member < owner.

The active workspace is the session's `workspace_id` when the user still belongs to it, else the
user's first workspace. Every dashboard view goes through `workspace_required`, except the public
catalogue pages (`catalogue_page`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketplace.models import Membership, Role, Workspace

SESSION_KEY = "workspace_id"
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.OWNER: 2}
ROLE_NEEDED = {
    Role.VIEWER: "a member of this workspace",
    Role.MEMBER: "a member (not a viewer) of this workspace",
    Role.OWNER: "an owner of this workspace",
}


def role_allows(role: str, min_role: str) -> bool:
    """True when `role` is at least `min_role` on the ladder viewer < member < owner."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[min_role]


@dataclass(frozen=True)
class WorkspaceAccess:
    """The signed-in user's standing in the active workspace, as templates and views read it."""

    membership: Membership
    memberships: tuple[Membership, ...]

    @property
    def workspace(self) -> Workspace:
        return self.membership.workspace

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def can_write(self) -> bool:
        """Rent, deploy, terminate."""
        return role_allows(self.role, Role.MEMBER)

    @property
    def can_manage(self) -> bool:
        """API keys, budget, members."""
        return role_allows(self.role, Role.OWNER)


def workspace_access(request: HttpRequest) -> WorkspaceAccess | None:
    """Resolve the active workspace from the session (one query); None when the user has none."""
    memberships = tuple(Membership.objects.filter(user=request.user).select_related("workspace")
                        .order_by("workspace__name", "id"))
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    active = next((m for m in memberships if m.workspace_id == wanted), memberships[0])
    if wanted != active.workspace_id:
        request.session[SESSION_KEY] = active.workspace_id
    return WorkspaceAccess(membership=active, memberships=memberships)


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _login_redirect(request: HttpRequest) -> HttpResponse:
    if is_htmx(request):
        # htmx would swap the login page into a fragment; send the whole window there instead.
        response = HttpResponse(status=401)
        response["HX-Redirect"] = f"{settings.LOGIN_URL}?{urlencode({'next': request.get_full_path()})}"
        return response
    return redirect_to_login(request.get_full_path())


def workspace_required(min_role: str = Role.VIEWER) -> Callable:
    """Require a signed-in user with at least `min_role` in the active workspace; sets `request.access`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return _login_redirect(request)
            access = workspace_access(request)
            if access is None:
                return render(request, "marketplace/no_workspace.html", status=403)
            request.access = access
            if not role_allows(access.role, min_role):
                return render(request, "marketplace/forbidden.html",
                              {"needed": ROLE_NEEDED[min_role], "role": access.role}, status=403)
            return view(request, *args, **kwargs)

        wrapped.min_role = min_role
        return wrapped

    return decorator


def catalogue_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A public catalogue page, like the catalogue API: anyone browses; sign-in is asked at "Rent".

    A signed-in user's workspace (`request.access`) still shows in the header; None for a visitor.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.access = workspace_access(request) if request.user.is_authenticated else None
        return view(request, *args, **kwargs)

    wrapped.public = True
    return wrapped


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Broker operators only (`is_staff`); sets `request.access` when the user also has a workspace."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _login_redirect(request)
        request.access = workspace_access(request)
        if not request.user.is_staff:
            return render(request, "marketplace/forbidden.html",
                          {"needed": "broker staff", "role": request.access.role if request.access else "none"},
                          status=403)
        return view(request, *args, **kwargs)

    wrapped.staff_only = True
    return wrapped
