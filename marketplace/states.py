"""The one state machine mechanism for every stateful row (DESIGN §4).

Each stateful model declares a `StateFlow` beside its own code (`marketplace/flows.py`; each app above in its
own `flows.py`): the moves allowed from each state, its final states (its `live` states are the others), and any
further groups of states, named once there. `transition()` is the only way a state changes: a compare-and-set
`UPDATE … WHERE pk = … AND state = <from>` plus an event row (time, from, to, reason, actor) in one transaction,
then `marketplace.signals.state_changed` (receivers that enqueue work use `on_commit`). It returns False when
someone moved the row first; asking for the state the row already has is a no-op, so a step run twice changes
nothing the second time.

Corrections: when reconciliation finds that the world disagrees with a row (the partner no longer runs a node,
or still runs one whose rental ended) the fix is an ordinary transition with actor `reconciliation`, never a
write that skips the table. The flow tables therefore list what can happen to a row, including what the world
imposes (a running node can fail, a failed node is still terminated at its partner), not only what the broker
asks for. A correction the table refuses raises `IllegalTransition`: the table is then wrong and is the thing
to fix. Facts that are not state changes (a failover, a budget warning) are `record_event()` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import models, transaction
from django.utils import timezone

from marketplace.signals import state_changed


class IllegalTransition(ValueError):
    """The flow table does not allow this move."""


@dataclass(frozen=True)
class StateFlow:
    """A model's flow table: `moves[state]` are the states it may go to next."""

    model: type[models.Model]
    event_model: type[models.Model]
    event_fk: str  # the event model's foreign key to `model`
    moves: Mapping[str, Iterable[str]]
    final: Iterable[str]
    state_field: str = "state"
    changed_at_field: str | None = "state_changed_at"
    live: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "moves", {state: frozenset(targets) for state, targets in self.moves.items()})
        object.__setattr__(self, "final", frozenset(self.final))
        object.__setattr__(self, "live", frozenset(self.moves) - self.final)
        for state, targets in self.moves.items():
            if not targets <= set(self.moves):
                raise ValueError(f"{self.model.__name__}: {state} → {set(targets) - set(self.moves)} undeclared")
            if state in self.final and not targets <= self.final:
                raise ValueError(f"{self.model.__name__}: final state {state} leads back to a live state")

    def allows(self, from_state: str, to: str) -> bool:
        return to in self.moves.get(from_state, ())

    def sources(self, to: str) -> frozenset[str]:
        """The states that may move to `to` (e.g. which rentals can be terminated)."""
        return frozenset(state for state, targets in self.moves.items() if to in targets)


FLOWS: dict[type[models.Model], StateFlow] = {}


def register(flow: StateFlow) -> StateFlow:
    FLOWS[flow.model] = flow
    return flow


def flow_for(obj: models.Model | type[models.Model]) -> StateFlow:
    model = obj if isinstance(obj, type) else type(obj)
    try:
        return FLOWS[model]
    except KeyError:
        raise LookupError(f"{model.__name__} has no registered state flow") from None


def transition(obj: models.Model, to: str, *, reason: str = "", actor: str = "system", **fields) -> bool:
    """Move `obj` from its current state to `to` if nobody moved it first; False if someone did.

    `fields` are written in the same UPDATE (e.g. `ended_at`). Running it twice changes nothing the second time.
    """
    flow = flow_for(obj)
    from_state = getattr(obj, flow.state_field)
    if from_state == to:
        return False
    if not flow.allows(from_state, to):
        raise IllegalTransition(f"{flow.model.__name__.lower()} {obj.pk}: {from_state} → {to} is not allowed")
    values = {flow.state_field: to, **fields}
    if flow.changed_at_field:
        values[flow.changed_at_field] = timezone.now()
    with transaction.atomic():
        changed = flow.model.objects.filter(pk=obj.pk, **{flow.state_field: from_state}).update(**values)
        if changed:
            _write_event(flow, obj, from_state, to, reason, actor)
    if not changed:
        return False
    for key, value in values.items():
        setattr(obj, key, value)
    state_changed.send(sender=flow.model, instance=obj, from_state=from_state, to_state=to, reason=reason,
                       actor=actor)
    return True


def record_event(obj: models.Model, reason: str, *, actor: str = "system", created: bool = False) -> None:
    """An event that is not a state change (a failover, a budget warning); `created` marks the row's birth."""
    flow = flow_for(obj)
    state = getattr(obj, flow.state_field)
    _write_event(flow, obj, "" if created else state, state, reason, actor)


def _write_event(flow: StateFlow, obj: models.Model, from_state: str, to: str, reason: str, actor: str) -> None:
    flow.event_model.objects.create(**{flow.event_fk: obj}, from_state=from_state, to_state=to, reason=reason,
                                    actor=actor)

