"""Refusals a caller can act on, raised by services and validators; no Django, no DRF.

Each kind maps to one HTTP status in one place (`marketplace/api/errors.py`); the dashboard catches the
same classes and puts the message on the form.
"""

from collections.abc import Mapping


class DomainError(Exception):
    """A refusal with a message for the user; `extra()` adds fields to the answer (e.g. the explanation)."""

    def extra(self) -> dict:
        return {}


class InvalidInput(DomainError):
    """Bad input: `errors` is {dotted field: [messages]}, every message naming its field (HTTP 400)."""

    field = "non_field_errors"

    def __init__(self, errors: Mapping[str, list[str]] | str):
        """`errors` by field, or one message for the class's `field`."""
        if isinstance(errors, str):
            super().__init__(errors)
            errors = {self.field: [errors]}
        else:
            super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = {str(name): [str(m) for m in messages] for name, messages in errors.items()}


class Conflict(DomainError):
    """The current state of things refuses the change (HTTP 409)."""


class OverBudget(DomainError):
    """The workspace's budget cannot cover it (HTTP 402)."""


class KeyReused(DomainError):
    """An Idempotency-Key was sent again with a different body (HTTP 422)."""
