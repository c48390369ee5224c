"""Request bodies: the one JSON reader for the API and the gateway, with size, depth and NUL limits.

A body past these limits is refused with a 4xx naming why, instead of a RecursionError (deep nesting),
a database error (a NUL byte in a string) or an unbounded read.
"""

import json
from typing import Any

from django.conf import settings

MAX_DEPTH = 32


class BodyError(Exception):
    """A body refused before any handler sees it; `status` is 400 or 413."""

    def __init__(self, status: int, message: str, *, field: str = "body") -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def max_body_bytes() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def too_large() -> BodyError:
    return BodyError(413, f"The request body is larger than {max_body_bytes()} bytes.")


def load_json(raw: bytes) -> Any:
    """Parse a JSON body within the limits (an empty body is None)."""
    if len(raw) > max_body_bytes():
        raise too_large()
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyError(400, f"The JSON is nested deeper than {MAX_DEPTH} levels.") from None
    except (UnicodeDecodeError, ValueError):
        raise BodyError(400, "The request body must be JSON.") from None
    if _may_break_limits(raw):
        check_value(value)
    return value


def _may_break_limits(raw: bytes) -> bool:
    """Whether `check_value` could refuse what this UTF-8 text parsed to: a NUL character in JSON text is the
    escape \\u0000 (a raw one is invalid JSON), and nesting past MAX_DEPTH takes more brackets than that.
    UTF-16 and UTF-32 bodies (NUL bytes in every ASCII character) are always walked."""
    return b"\x00" in raw or b"\\u0000" in raw or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH


def check_value(value: Any) -> None:
    """Refuse nesting past MAX_DEPTH and NUL characters anywhere (walked without recursion)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise BodyError(400, "NUL characters are not allowed.", field=path or "body")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise BodyError(400, f"The JSON is nested deeper than {MAX_DEPTH} levels.")
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if isinstance(key, str) and "\x00" in key:
                raise BodyError(400, "NUL characters are not allowed in keys.", field=path or "body")
            stack.append((child, depth + 1, f"{path}.{key}" if path else str(key)))
