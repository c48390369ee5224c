"""Which workspace a request acts for, and the role it holds there."""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from marketplace.models import Membership, Role, Workspace

WRITE_ROLES = (Role.OWNER, Role.MEMBER)


def request_workspace(request) -> Workspace:
    """The API key's workspace, or the dashboard session's current workspace."""
    workspace = getattr(request, "workspace", None)
    if workspace is not None:
        return workspace
    membership = _session_membership(request)
    if membership is None:
        raise PermissionDenied("no workspace: sign in or use an API key")
    request.workspace = membership.workspace
    return membership.workspace


def _session_membership(request) -> Membership | None:
    memberships = Membership.objects.filter(user=request.user).select_related("workspace")
    chosen = request.session.get("workspace_id") if hasattr(request, "session") else None
    return (memberships.filter(workspace_id=chosen).first() if chosen else None) or memberships.first()


def request_role(request) -> str:
    workspace = request_workspace(request)
    return Membership.objects.filter(user=request.user, workspace=workspace).values_list("role", flat=True).first() \
        or Role.VIEWER


class CanWriteInWorkspace(BasePermission):
    """Viewers read; members and owners may rent, deploy and terminate."""

    message = "your role in this workspace is read-only (viewer)"

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return request_role(request) in WRITE_ROLES
