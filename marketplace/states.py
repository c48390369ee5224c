"""Rental state machine: one compare-and-set `transition()` that writes an event row (DESIGN §4)."""

from django.db import transaction
from django.utils import timezone

from marketplace.models import Rental, RentalEvent, RentalState
from marketplace.signals import state_changed

S = RentalState
RENTAL_FLOW: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PROVISIONING, S.TERMINATING, S.FAILED}),
    S.PROVISIONING: frozenset({S.RUNNING, S.TERMINATING, S.FAILED}),
    S.RUNNING: frozenset({S.TERMINATING, S.FAILED}),
    S.TERMINATING: frozenset({S.TERMINATED}),
    S.TERMINATED: frozenset(),
    S.FAILED: frozenset(),
}
LIVE_STATES = (S.PENDING, S.PROVISIONING, S.RUNNING, S.TERMINATING)
FINAL_STATES = (S.TERMINATED, S.FAILED)


class IllegalTransition(ValueError):
    pass


def transition(rental: Rental, to: str, *, reason: str = "", actor: str = "system", **fields) -> bool:
    """Move `rental` from its current state to `to` if nobody moved it first; False if someone did.

    Running it twice changes nothing the second time (the compare-and-set finds another state).
    """
    from_state = rental.state
    if to not in RENTAL_FLOW[from_state]:
        raise IllegalTransition(f"rental {rental.pk}: {from_state} → {to} is not allowed")
    now = timezone.now()
    with transaction.atomic():
        changed = Rental.objects.filter(pk=rental.pk, state=from_state).update(state=to, state_changed_at=now,
                                                                               **fields)
        if changed:
            RentalEvent.objects.create(rental=rental, from_state=from_state, to_state=to, reason=reason, actor=actor)
    if changed:
        rental.state, rental.state_changed_at = to, now
        for key, value in fields.items():
            setattr(rental, key, value)
        state_changed.send(sender=Rental, instance=rental, from_state=from_state, to_state=to, reason=reason,
                           actor=actor)
    return bool(changed)


def record_event(rental: Rental, reason: str, *, actor: str = "system") -> None:
    """An event that is not a state change (a failover, a budget warning)."""
    RentalEvent.objects.create(rental=rental, from_state=rental.state, to_state=rental.state, reason=reason,
                               actor=actor)
