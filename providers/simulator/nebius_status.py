"""The Nebius API's error answers: a gRPC status code with, as Nebius sends them, one `nebius.common.v1.ServiceError`
detail (github.com/nebius/api, nebius/common/v1/error.proto) naming the service and what went wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from nebius.api.nebius.common.v1 import BadRequest, Operation, OperationServiceClient, ResourceNotFound, ServiceError

_STATUS = OperationServiceClient.__registry__.message_class("google.rpc.Status")


class Abort(Exception):
    """End the call with a gRPC status and, optionally, one ServiceError detail."""

    def __init__(self, code: grpc.StatusCode, message: str, detail: ServiceError | None = None):
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail


def not_found(resource_id: str, service: str = "compute") -> ServiceError:
    return ServiceError(service=service, code="ResourceNotFound",
                        resource_not_found=ResourceNotFound(resource_id=resource_id))


def bad_request(field: str, message: str, service: str = "compute") -> ServiceError:
    return ServiceError(service=service, code="BadRequest",
                        bad_request=BadRequest(violations=[BadRequest.Violation(field=field, message=message)]))


def invalid(field: str, message: str, service: str = "compute") -> Abort:
    """INVALID_ARGUMENT naming the request field, the way the API's request validation refuses it."""
    return Abort(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {message}", bad_request(field, message, service))


def missing(resource_id: str, what: str, service: str = "compute") -> Abort:
    return Abort(grpc.StatusCode.NOT_FOUND, f"{what} {resource_id} not found", not_found(resource_id, service))


def finished(operation_id: str, description: str, resource_id: str, at: float) -> Operation:
    """An operation that completed (`status.code` OK) as it was answered: the simulated resource exists at once."""
    done = datetime.fromtimestamp(at, UTC)
    return Operation(id=operation_id, description=description, resource_id=resource_id, created_at=done,
                     finished_at=done, created_by="simulated-service-account", status=_STATUS(code=0))
