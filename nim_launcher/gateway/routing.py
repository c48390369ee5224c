"""Which replica serves a request: the caller's deployment by name, then the least busy ready replica."""

import itertools
import time
from dataclasses import dataclass

from nim_launcher.flows import DEPLOYMENT_FLOW
from nim_launcher.models import Deployment, Replica, ReplicaState

from . import database
from .errors import GatewayError
from .ttl_cache import TtlCache, is_missing

FAILURE_PENALTY_S = 5.0
_routes = TtlCache()


@dataclass(frozen=True)
class Target:
    replica_id: int
    endpoint: str


@dataclass(frozen=True)
class Route:
    deployment_id: int
    name: str
    model: str
    state: str
    targets: tuple[Target, ...]


def _load_route(workspace_id: int, name: str) -> Route | None:
    deployment = (Deployment.objects.filter(workspace_id=workspace_id, name=name)
                  .exclude(state__in=DEPLOYMENT_FLOW.final).only("id", "name", "model", "state").first())
    if deployment is None:
        return None
    rows = (Replica.objects.filter(deployment_id=deployment.pk, state=ReplicaState.READY)
            .exclude(endpoint="").order_by("id").values_list("id", "endpoint"))
    targets = tuple(Target(pk, endpoint.rstrip("/")) for pk, endpoint in rows)
    return Route(deployment.pk, deployment.name, deployment.model, deployment.state, targets)


async def resolve_route(workspace_id: int, name: str, *, fresh: bool = False) -> Route:
    """The caller's live deployment named `name` (404 otherwise, whoever else owns that name).

    `fresh` skips the cache: after its replicas failed, the deployment may have replaced them already.
    """
    route = None if fresh else _routes.get((workspace_id, name))
    if fresh or is_missing(route):
        route = await database.read(_load_route, workspace_id, name)
        if route is not None:  # no negative cache: a deployment created a moment ago must be found at once
            _routes.set((workspace_id, name), route)
    if route is None:
        raise GatewayError(404, f"The model `{name}` does not exist: no deployment of that name in this workspace.",
                           code="model_not_found", param="model")
    return route


def _list_deployments(workspace_id: int) -> list[dict]:
    rows = (Deployment.objects.filter(workspace_id=workspace_id).exclude(state__in=DEPLOYMENT_FLOW.final)
            .order_by("name").values("name", "model", "state", "created_at"))
    return [{"id": row["name"], "object": "model", "created": int(row["created_at"].timestamp()),
             "owned_by": "gpu-broker", "root": row["model"], "state": row["state"]} for row in rows]


async def list_models(workspace_id: int) -> dict:
    return {"object": "list", "data": await database.read(_list_deployments, workspace_id)}


class Balancer:
    """Least requests in flight (this process), rotating among ties; recently failed replicas go last."""

    def __init__(self) -> None:
        self.in_flight: dict[int, int] = {}
        self.failed_until: dict[int, float] = {}
        self._turn = itertools.count()

    def pick(self, route: Route, exclude: set[int]) -> Target | None:
        candidates = [t for t in route.targets if t.replica_id not in exclude]
        if not candidates:
            return None
        shift = next(self._turn) % len(candidates)
        rotated = candidates[shift:] + candidates[:shift]
        now = time.monotonic()
        return min(rotated, key=lambda t: (self.failed_until.get(t.replica_id, 0.0) > now,
                                           self.in_flight.get(t.replica_id, 0)))

    def acquire(self, target: Target) -> None:
        self.in_flight[target.replica_id] = self.in_flight.get(target.replica_id, 0) + 1

    def release(self, target: Target) -> None:
        self.in_flight[target.replica_id] = max(0, self.in_flight.get(target.replica_id, 1) - 1)

    def mark_failed(self, target: Target) -> None:
        self.failed_until[target.replica_id] = time.monotonic() + FAILURE_PENALTY_S


balancer = Balancer()


def no_ready_replica(route: Route) -> GatewayError:
    return GatewayError(503, f"Deployment `{route.name}` has no ready replica (deployment state: {route.state}); "
                        "retry later.", code="no_ready_replica")


def clear_cache() -> None:
    _routes.clear()
