"""Exit codes and the errors that carry them; every failure path ends in one of these."""

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # any other API error (404, 409 without explanation, 5xx after retries) or network failure
    USAGE = 2  # bad options, invalid request (HTTP 400), missing or insecure configuration
    NO_CAPACITY = 3  # no placement matches the request, or every candidate ran out of capacity
    TIMEOUT = 4  # --timeout passed while waiting; the resource keeps running
    FAILED = 5  # the rental or deployment ended `failed` for another reason
    AUTH = 6  # HTTP 401/403, or no API key configured
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class CliError(Exception):
    """A failure to report to the user; `kind` and `details` also go into the `--json` error document."""

    exit_code: ExitCode = ExitCode.ERROR
    kind = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, resource: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.resource = resource  # the rental/deployment the failure concerns, when there is one

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "exit_code": int(self.exit_code), **self.details}


class UsageError(CliError):
    exit_code = ExitCode.USAGE
    kind = "usage"


class ConfigError(UsageError):
    kind = "config"


class ValidationFailed(UsageError):
    """HTTP 400: `details["errors"]` is the API's {field: [messages]}."""

    kind = "validation"


class AuthError(CliError):
    exit_code = ExitCode.AUTH
    kind = "auth"


class NoCapacity(CliError):
    exit_code = ExitCode.NO_CAPACITY
    kind = "no_capacity"


class WaitTimeout(CliError):
    exit_code = ExitCode.TIMEOUT
    kind = "timeout"


class ResourceFailed(CliError):
    exit_code = ExitCode.FAILED
    kind = "failed"


class ApiError(CliError):
    """Any other non-2xx answer, or the server could not be reached after the retries."""

    kind = "api"
