"""Reading JSON values into typed ones, with the messages clients already know; no Django, no DRF.

A reader takes one raw value and returns the typed value or raises `BadValue` with the message for that
field. `Fields` reads an object field by field and collects every error at once, keyed by dotted path.
"""

import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, DecimalException
from typing import Any

from marketplace.errors import InvalidInput

MAX_STRING_LENGTH = 1000  # guards the number parsers against huge strings
TRUE = {"t", "y", "yes", "true", "on", "1", 1}
FALSE = {"f", "n", "no", "false", "off", "0", 0}
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
REQUIRED = object()  # the default of a field that must be present


class BadValue(ValueError):
    """One value is invalid; `errors` is a message list, or {sub-path: messages} for a list or an object."""

    def __init__(self, errors: list[str] | dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _bounded(value, low, high):
    if low is not None and value < low:
        raise BadValue([f"Ensure this value is greater than or equal to {low}."])
    if high is not None and value > high:
        raise BadValue([f"Ensure this value is less than or equal to {high}."])
    return value


def integer(value, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        raise BadValue(["String value too large."])
    try:
        number = int(re.sub(r"\.0*\s*$", "", str(value)))
    except (TypeError, ValueError):
        raise BadValue(["A valid integer is required."]) from None
    return _bounded(number, low, high)


def number(value, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        raise BadValue(["String value too large."])
    try:
        parsed = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadValue(["A valid number is required."]) from None
    if not math.isfinite(parsed):
        raise BadValue(["A valid number is required."])
    return _bounded(parsed, low, high)


def decimal(value, *, max_digits: int, places: int, low: Decimal | None = None,
            high: Decimal | None = None) -> Decimal:
    """A Decimal with at most `max_digits` digits, `places` of them after the point."""
    text = str(value).strip()
    try:
        parsed = Decimal(text) if len(text) <= MAX_STRING_LENGTH else None
    except DecimalException:
        parsed = None
    if parsed is None or not parsed.is_finite():
        raise BadValue(["A valid number is required."])
    _, digits, exponent = parsed.as_tuple()
    decimals = max(-exponent, 0)
    total = max(len(digits), decimals) if exponent < 0 else len(digits) + exponent
    if total > max_digits:
        raise BadValue([f"Ensure that there are no more than {max_digits} digits in total."])
    if decimals > places:
        raise BadValue([f"Ensure that there are no more than {places} decimal places."])
    if total - decimals > max_digits - places:
        raise BadValue([f"Ensure that there are no more than {max_digits - places} digits before the decimal point."])
    return _bounded(parsed.quantize(Decimal(1).scaleb(-places)), low, high)


def boolean(value) -> bool:
    key = value.lower() if isinstance(value, str) else value
    try:
        if key in TRUE:
            return True
        if key in FALSE:
            return False
    except TypeError:  # unhashable, e.g. a list
        pass
    raise BadValue(["Must be a valid boolean."])


def text(value, *, max_length: int | None = None, blank: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadValue(["Not a valid string."])
    value = str(value).strip()
    if not value and not blank:
        raise BadValue(["This field may not be blank."])
    if max_length is not None and len(value) > max_length:
        raise BadValue([f"Ensure this field has no more than {max_length} characters."])
    return value


def slug(value) -> str:
    value = text(value)
    if not SLUG.match(value):
        raise BadValue(['Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'])
    return value


def choice(value, choices: Iterable[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise BadValue([f'"{value}" is not a valid choice.'])
    return value


def items(value, read: Callable[[Any], Any]) -> list:
    """A JSON list read item by item; an invalid item is reported at its index."""
    if isinstance(value, (str, Mapping)) or not hasattr(value, "__iter__"):
        raise BadValue([f'Expected a list of items but got type "{type(value).__name__}".'])
    out, errors = [], {}
    for i, item in enumerate(value):
        try:
            out.append(read(item))
        except BadValue as exc:
            errors |= _nest(str(i), exc.errors)
    if errors:
        raise BadValue(errors)
    return out


def _nest(name: str, errors: list[str] | dict[str, list[str]]) -> dict[str, list[str]]:
    if isinstance(errors, dict):
        return {f"{name}.{key}" if key else name: messages for key, messages in errors.items()}
    return {name: errors}


class Fields:
    """Reads the fields of one JSON object; unknown names, bad values and missing ones are all reported."""

    def __init__(self, data, *, known: Iterable[str], extra: Iterable[str] = ()):
        if not isinstance(data, Mapping):
            raise BadValue([f"Invalid data. Expected a dictionary, but got {type(data).__name__}."])
        self.data, self.errors = data, {}
        for name in sorted(set(data) - set(known) - set(extra)):
            self.errors[str(name)] = ["unknown field"]

    def get(self, name: str, read: Callable[[Any], Any], *, default=REQUIRED, null: bool = False):
        """The field read by `read`; None when it is null and may be; `default` when it is absent."""
        if name not in self.data:
            if default is REQUIRED:
                self.errors[name] = ["This field is required."]
            return None if default is REQUIRED else default
        value = self.data[name]
        if value is None:
            if not null:
                self.errors[name] = ["This field may not be null."]
            return None
        try:
            return read(value)
        except BadValue as exc:
            self.errors |= _nest(name, exc.errors)
            return None

    def check(self) -> None:
        """Raise BadValue with every error collected so far."""
        if self.errors:
            raise BadValue(self.errors)


def invalid_input(exc: BadValue, field: str = "non_field_errors") -> InvalidInput:
    """The error of a whole body as the domain's InvalidInput."""
    return InvalidInput(_nest(field, exc.errors) if isinstance(exc.errors, list) else exc.errors)
