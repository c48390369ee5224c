"""Which workspace an API request acts for, and the role it holds there."""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from marketplace.models import Membership, Role, Workspace
from marketplace.views.access import role_allows, workspace_access


def request_workspace(request) -> Workspace:
    """The API key's workspace, or the dashboard session's active workspace."""
    workspace = getattr(request, "workspace", None)
    if workspace is not None:
        return workspace
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        request.workspace = api_key.workspace
        return request.workspace
    access = workspace_access(request)
    if access is None:
        raise PermissionDenied("no workspace: sign in or use an API key")
    request.workspace, request.workspace_role = access.workspace, access.role
    return access.workspace


def request_workspace_id(request) -> int:
    """request_workspace(request).pk, without loading the workspace when an API key names it."""
    api_key = getattr(request, "api_key", None)
    return api_key.workspace_id if api_key is not None else request_workspace(request).pk


def request_role(request) -> str:
    workspace = request_workspace(request)
    role = getattr(request, "workspace_role", None)
    if role is None:
        role = Membership.objects.filter(user=request.user, workspace=workspace).values_list(
            "role", flat=True).first() or Role.VIEWER
        request.workspace_role = role
    return role


class CanWriteInWorkspace(BasePermission):
    """Viewers read; members and owners may rent, deploy and terminate."""

    message = "your role in this workspace is read-only (viewer)"

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return role_allows(request_role(request), Role.MEMBER)
