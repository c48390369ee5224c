"""Lambda Cloud's published OpenAPI document (docs/vendor) as a validator of API answers."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "vendor" / "lambda-cloud-openapi.json"
DOC_URI = "urn:lambda-cloud-openapi"
# The document's "Error responses" section: the envelope of every failure, statuses it lists or not.
ERROR_ENVELOPE = {
    "type": "object", "additionalProperties": False, "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "suggestion": {"type": "string"}}}},
}


# JSON Schema counts 3.0 as an integer; the document's integers must arrive as integers.
_STRICT_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
StrictValidator = validators.extend(Draft202012Validator, type_checker=_STRICT_TYPES)


@cache
def document() -> dict:
    return json.loads(DOC_PATH.read_text())


@cache
def _registry() -> Registry:
    return Registry().with_resource(DOC_URI, Resource(contents=document(), specification=DRAFT202012))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def operation_path(path: str) -> str | None:
    """The document's path template for a concrete `/api/v1/...` path, or None."""
    for template in document()["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None


def violations(method: str, path: str, status: int, body: object) -> list[str]:
    """Why this answer breaks the published contract (empty when it conforms)."""
    template = operation_path(path)
    responses = document()["paths"][template].get(method.lower(), {}).get("responses") if template else None
    if responses is None:  # no such operation: only a 404 in the error envelope is right
        return [] if status == 404 and not _errors(ERROR_ENVELOPE, body) else [f"{method} {path}: {status} for a "
                                                                               "path the document does not have"]
    if str(status) in responses:
        ref = "#" + _pointer("", "paths", template, method.lower(), "responses", str(status), "content",
                             "application/json", "schema")
        schema = {"$ref": DOC_URI + ref}
    elif status >= 400:
        schema = ERROR_ENVELOPE
    else:
        return [f"{method} {template}: status {status} is not in the document"]
    return [f"{method} {template} {status}: {problem}" for problem in _errors(schema, body)]


def _errors(schema: dict, body: object) -> list[str]:
    validator = StrictValidator(schema, registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300] for e in validator.iter_errors(body)]


class AnswerLog:
    """Every answer the simulator's Lambda API gives, with its violations of the document."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str, int]] = []
        self.problems: list[str] = []
        self.failing = 0  # answers with at least one violation

    def attach(self, app) -> None:
        dispatch = app.dispatch

        def recording(request):
            response = dispatch(request)
            if request.parts[:1] == ["lambda"]:
                path = "/" + "/".join(request.parts[2:])
                self.answers.append((request.method, path, response.status))
                if response.status == 429:  # Lambda's CDN answers these (error 1015), not the API
                    found = [] if response.headers.get("Retry-After", "").isdigit() else [f"{path}: 429 without Retry-After"]
                else:
                    found = violations(request.method, path, response.status, json.loads(json.dumps(response.body)))
                self.problems += found
                self.failing += bool(found)
            return response

        app.dispatch = recording
