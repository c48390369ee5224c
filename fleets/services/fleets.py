"""Fleets: create one (with its private partner row and a join token), list, delete; join a machine to it."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from fleets.flows import MACHINE_FLOW, WORK_LIVE
from fleets.gpu_names import canonical_from_nvml
from fleets.models import Fleet, Machine, MachineState, Work
from fleets.services.offers import fleet_offers_refresh
from fleets.services.tokens import JOIN_PREFIX, MACHINE_PREFIX, new_token, owner_of, token_matches
from marketplace.catalog.regions import jurisdiction_of
from marketplace.errors import Conflict, InvalidInput
from marketplace.models import Partner, PartnerKind, PartnerStatus, Workspace
from marketplace.secrets import hash_token
from marketplace.states import record_event, transition


@dataclass(frozen=True)
class Inventory:
    """What a joining machine reports: its GPUs as NVML names them (or as declared, `simulated`), CPU, RAM."""

    gpu_names: tuple[str, ...]
    gpu_memory_gb: int
    vcpus: int
    memory_gb: float
    simulated: bool = False


@dataclass(frozen=True)
class JoinRequest:
    token: str
    hostname: str
    country: str
    region: str
    ip: str
    inventory: Inventory


def fleet_create(*, workspace: Workspace, name: str, price_per_gpu_hour: Decimal) -> tuple[Fleet, str]:
    """A fleet with its private partner row; returns it with its join token (shown once)."""
    if Fleet.objects.filter(workspace=workspace, name=name).exists():
        raise InvalidInput({"name": [f"this workspace already has a fleet named {name!r}"]})
    try:
        with transaction.atomic():
            partner = Partner.objects.create(
                slug=f"fleet-{workspace.pk}-{slugify(name)[:40]}", name=f"{name} (own machines)",
                kind=PartnerKind.FLEET, status=PartnerStatus.ACTIVE, workspace=workspace)
            fleet = Fleet.objects.create(workspace=workspace, partner=partner, name=name,
                                         price_per_gpu_hour=price_per_gpu_hour)
            token = fleet_join_token_issue(fleet)
    except IntegrityError:
        raise InvalidInput({"name": [f"this workspace already has a fleet named {name!r}"]}) from None
    return fleet, token


def fleet_join_token_issue(fleet: Fleet) -> str:
    """A new join token for the fleet (the previous one stops working); valid FLEET_JOIN_TOKEN_TTL_S."""
    token = new_token(JOIN_PREFIX, fleet.pk)
    fleet.join_token_hash = hash_token(token)
    fleet.join_token_expires_at = timezone.now() + timedelta(seconds=settings.FLEET_JOIN_TOKEN_TTL_S)
    Fleet.objects.filter(pk=fleet.pk).update(join_token_hash=fleet.join_token_hash,
                                             join_token_expires_at=fleet.join_token_expires_at)
    return token


def fleet_delete(fleet: Fleet, *, actor: str) -> None:
    """Remove every machine and the fleet's offers; refused while a machine still runs work."""
    if Work.objects.filter(machine__fleet=fleet, state__in=WORK_LIVE).exists():
        raise Conflict("the fleet's machines still run work: terminate it (or drain the machines) first")
    for machine in fleet.machines.exclude(state=MachineState.REMOVED):
        transition(machine, MachineState.REMOVED, reason="fleet deleted", actor=actor)
    partner = fleet.partner
    with transaction.atomic():
        partner.offers.filter(rentals__isnull=True).delete()
        partner.offers.update(available_nodes=0)
        fleet.delete()
    if partner.status == PartnerStatus.ACTIVE:  # kept (past rentals name it), never sells again
        transition(partner, PartnerStatus.SUSPENDED, reason="its fleet was deleted", actor=actor)


def fleet_join(request: JoinRequest, *, now=None) -> tuple[Machine, str]:
    """Register a machine with a fleet's join token; returns it `joining` with its credential (shown once)."""
    now = now or timezone.now()
    fleet = _fleet_for_join_token(request.token, now)
    inventory = request.inventory
    spec = canonical_from_nvml(inventory.gpu_names[0], inventory.gpu_memory_gb) if inventory.gpu_names else None
    machine = Machine.objects.create(
        fleet=fleet, hostname=request.hostname, ip=request.ip, country=request.country, region=request.region,
        gpu=spec.name if spec else "", gpu_name=inventory.gpu_names[0] if inventory.gpu_names else "",
        gpu_count=len(inventory.gpu_names) if spec else 0,
        gpu_memory_gb=inventory.gpu_memory_gb or (spec.memory_gb if spec else 0),
        vcpus=inventory.vcpus, memory_gb=inventory.memory_gb, simulated=inventory.simulated,
        token_hash="pending")
    token = new_token(MACHINE_PREFIX, machine.pk)
    Machine.objects.filter(pk=machine.pk).update(token_hash=hash_token(token))
    record_event(machine, f"joined {fleet.name}: {describe_inventory(machine)} in {location(machine)}",
                 actor="agent", created=True)
    return machine, token


def _fleet_for_join_token(token: str, now) -> Fleet:
    fleet = Fleet.objects.select_related("partner").filter(pk=owner_of(token, JOIN_PREFIX) or 0).first()
    if fleet is None or not token_matches(fleet.join_token_hash, token):
        raise InvalidInput({"token": ["not a valid join token"]})
    if fleet.join_token_expires_at is None or fleet.join_token_expires_at <= now:
        raise InvalidInput({"token": ["this join token has expired; ask for a new one"]})
    return fleet


def machine_for_token(machine_id: int, token: str) -> Machine | None:
    """The machine this credential belongs to (None for any other token), removed machines included."""
    if owner_of(token, MACHINE_PREFIX) != machine_id:
        return None
    machine = Machine.objects.select_related("fleet__partner").filter(pk=machine_id).first()
    return machine if machine is not None and token_matches(machine.token_hash, token) else None


def describe_inventory(machine: Machine) -> str:
    if not machine.gpu_count:
        gpus = f"no usable GPU ({machine.gpu_name} is not a known model)" if machine.gpu_name else "no GPU"
    else:
        gpus = f"{machine.gpu_count}× {machine.gpu} {machine.gpu_memory_gb} GB"
    return f"{gpus}, {machine.vcpus} vCPUs, {machine.memory_gb:g} GB RAM{' (simulated)' if machine.simulated else ''}"


def location(machine: Machine) -> str:
    return f"{machine.country}/{machine.region}" if machine.region else machine.country


def machine_jurisdiction(machine: Machine) -> str:
    return jurisdiction_of(machine.country) if machine.country else ""


def machine_remove(machine: Machine, *, actor: str) -> bool:
    """Take a machine out of the fleet for good (its work must have ended)."""
    if Work.objects.filter(machine=machine, state__in=WORK_LIVE).exists():
        raise Conflict(f"machine {machine.pk} still runs work: drain it first")
    if machine.state not in MACHINE_FLOW.live:
        return False
    moved = transition(machine, MachineState.REMOVED, reason="removed from the fleet", actor=actor)
    fleet_offers_refresh(machine.fleet)
    return moved
