"""Who belongs to a workspace and with which role; a workspace always keeps at least one owner."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.models import ApiKey, Membership, Role, Workspace
from marketplace.services.api_keys import forget_cached_keys


class MemberError(Exception):
    """A refused membership change; `field` names the form field it belongs to (None: the whole request)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise MemberError(f"Unknown role “{role}”; choose one of {', '.join(Role.values)}.", field="role")


def _user_for_email(email: str) -> User:
    """The active account signed up with this address (accounts use it as their username)."""
    email = email.strip()
    users = User.objects.filter(is_active=True)
    user = users.filter(username__iexact=email).first()
    if user is not None:
        return user
    matches = list(users.filter(email__iexact=email)[:2])
    if not matches:
        raise MemberError(f"No account uses {email}; ask them to sign up first, then add them here.", field="email")
    if len(matches) > 1:
        raise MemberError(f"Several accounts use {email}; add the person by the address they sign in with.",
                          field="email")
    return matches[0]


def member_add(*, workspace: Workspace, email: str, role: str) -> Membership:
    """Add an existing account (found by e-mail or username, any case) to the workspace with `role`."""
    _check_role(role)
    user = _user_for_email(email)
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise MemberError(f"{user.email or user.username} is already a member of this workspace.", field="email")
    try:
        with transaction.atomic():
            return Membership.objects.create(workspace=workspace, user=user, role=role)
    except IntegrityError:  # added by someone else between the check and the insert
        raise MemberError(f"{user.email or user.username} is already a member of this workspace.",
                          field="email") from None


def _lock_for_change(workspace: Workspace, membership_id: int) -> tuple[Membership, int]:
    """Lock the workspace's owner rows, then the target; return the target and the number of owners.

    Locking every owner row first serialises two owners demoting or removing each other at once: the
    second waits, then re-reads the owners and sees the first one's change.
    """
    owners = list(Membership.objects.select_for_update().filter(workspace=workspace, role=Role.OWNER)
                  .order_by("pk").values_list("pk", flat=True))
    target = (Membership.objects.select_for_update(of=("self",)).select_related("user")
              .get(pk=membership_id, workspace=workspace))
    return target, len(owners)


def _refuse_last_owner(target: Membership, owner_count: int, action: str, field: str | None) -> None:
    if target.role == Role.OWNER and owner_count <= 1:
        raise MemberError(f"You cannot {action} the last owner: a workspace needs at least one. "
                          "Make someone else an owner first.", field=field)


@transaction.atomic
def member_set_role(*, workspace: Workspace, membership_id: int, role: str) -> Membership:
    """Change a member's role; raises Membership.DoesNotExist for a membership of another workspace."""
    _check_role(role)
    target, owner_count = _lock_for_change(workspace, membership_id)
    if role != Role.OWNER:
        _refuse_last_owner(target, owner_count, "demote", "role")
    if target.role != role:
        target.role = role
        target.save(update_fields=["role"])
    return target


@transaction.atomic
def member_remove(*, workspace: Workspace, membership_id: int) -> Membership:
    """Remove someone and revoke the API keys they made for this workspace, so their access ends at once.

    Raises Membership.DoesNotExist for a membership of another workspace.
    """
    target, owner_count = _lock_for_change(workspace, membership_id)
    _refuse_last_owner(target, owner_count, "remove", None)
    ApiKey.objects.filter(workspace=workspace, user_id=target.user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    forget_cached_keys()
    transaction.on_commit(forget_cached_keys)  # and again once no reader can see the old row
    target.delete()
    return target
