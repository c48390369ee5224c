"""A simulator request and response, shared by the app and its route modules."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    parts: list[str]
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Response:
    status: int
    body: Any  # JSON, or a str sent as text/plain (what a CDN in front of an API answers)
    headers: dict[str, str] = field(default_factory=dict)
