"""What the apps above `marketplace` provide to it: they register here in `AppConfig.ready()`.

`marketplace.signals` carries news upward (a state changed); these hooks answer the questions marketplace
asks an upper app it may not import: what a node launches with, which ports it serves on (to the gateway, or
to its users directly), who owns a rental, and which adapter provisions on a partner kind that lives above it
(a workspace's own machines).
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass

from marketplace.models import Node, Partner, Rental
from providers.base import ProviderAdapter


@dataclass(frozen=True)
class RentalOwner:
    """What rents a node on a user's behalf (a deployment's replica; later a job or a pod)."""

    kind: str  # "deployment", "pod"
    name: str
    url: str  # its dashboard page


@dataclass(frozen=True)
class LaunchPlan:
    user_data: str  # what the partner is given
    redacted: str  # the same text with every secret as `<redacted>`: kept on the node for its owner to read


NO_PLAN = LaunchPlan("", "")
# (rental, node, node token) → the node's launch plan, or None when the rental is not this app's
LaunchPlanHook = Callable[[Rental, Node, str], LaunchPlan | None]
# rental ids → {rental id: owner} for the rentals this app owns (one query for all of them)
RentalOwnersHook = Callable[[Collection[int]], dict[int, RentalOwner]]
# rental → the inbound TCP ports its workload serves on (the NIM port for a replica; [] when not this app's)
ServedPortsHook = Callable[[Rental], list[int]]
# rental → the inbound TCP ports its users reach directly, from anywhere (a pod's JupyterLab; [] when none)
PublicPortsHook = Callable[[Rental], list[int]]

# partner row → its adapter, for a partner kind whose adapter needs the database (no `providers` class)
AdapterFactory = Callable[[Partner], ProviderAdapter]

_launch_plans: list[LaunchPlanHook] = []
_adapter_factories: dict[str, AdapterFactory] = {}
_rental_owners: list[RentalOwnersHook] = []
_served_ports: list[ServedPortsHook] = []
_public_ports: list[PublicPortsHook] = []


def register_launch_plan(hook: LaunchPlanHook) -> None:
    if hook not in _launch_plans:
        _launch_plans.append(hook)


def register_rental_owners(hook: RentalOwnersHook) -> None:
    if hook not in _rental_owners:
        _rental_owners.append(hook)


def register_served_ports(hook: ServedPortsHook) -> None:
    if hook not in _served_ports:
        _served_ports.append(hook)


def register_adapter_factory(kind: str, factory: AdapterFactory) -> None:
    _adapter_factories[kind] = factory


def adapter_factory(kind: str) -> AdapterFactory | None:
    """The upper app's adapter factory for this partner kind, if one registered it."""
    return _adapter_factories.get(kind)


def register_public_ports(hook: PublicPortsHook) -> None:
    if hook not in _public_ports:
        _public_ports.append(hook)


def public_ports(rental: Rental) -> list[int]:
    """Every port users reach directly on this rental's nodes (none for a plain rental)."""
    return sorted({port for hook in _public_ports for port in hook(rental)})


def served_ports(rental: Rental) -> list[int]:
    """Every port an upper app's workload on this rental serves on (none for a plain rental)."""
    return sorted({port for hook in _served_ports for port in hook(rental)})


def launch_plan(rental: Rental, node: Node, node_token: str) -> LaunchPlan:
    """The first registered plan for this node; none (the partner's default image) for a plain rental."""
    for hook in _launch_plans:
        plan = hook(rental, node, node_token)
        if plan is not None:
            return plan
    return NO_PLAN


def rental_owners(rental_ids: Collection[int]) -> dict[int, RentalOwner]:
    """Owner per rental id, for the rentals an upper app owns (plain rentals are absent)."""
    owners: dict[int, RentalOwner] = {}
    if not rental_ids:
        return owners
    for hook in _rental_owners:
        owners.update(hook(rental_ids))
    return owners
