"""What goes to stdout: one JSON document, or tables and short summaries for people."""

import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

Column = tuple[str, Callable[[dict], Any]]


def emit_json(document: Any) -> None:
    """Write exactly one JSON document (and a newline) to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def render_table(rows: Sequence[dict], columns: Sequence[Column]) -> str:
    """A plain-text table: a header line, then one line per row; numbers right-aligned."""
    cells = [[_cell(getter(row)) for _, getter in columns] for row in rows]
    headers = [header for header, _ in columns]
    widths = [max([len(header)] + [len(line[i]) for line in cells]) for i, header in enumerate(headers)]
    numeric = [bool(cells) and all(_is_number(line[i]) or line[i] == "-" for line in cells) for i in range(len(headers))]

    def fmt(values: Sequence[str]) -> str:
        parts = [value.rjust(width) if right else value.ljust(width)
                 for value, width, right in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([fmt(headers)] + [fmt(line) for line in cells])


def money(value: Any, places: int = 2) -> str:
    """`3.5` → `3.50`, `27.44705` → `27.44705` (never fewer than `places` decimals, never a partner's digit
    dropped); `None` → `-`. Prices arrive as strings or numbers from the API."""
    if value is None or value == "":
        return "-"
    try:
        exact = Decimal(str(value))
        shown = max(places, -exact.normalize().as_tuple().exponent)
        return f"{exact:.{shown}f}"
    except (InvalidOperation, TypeError):
        return str(value)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
