"""A fleet's private offers: one per group of identical ready machines in one place, with live capacity.

The count is the truth recomputed from the machines (ready, not unhealthy, not busy) less the reservations that
rentals hold but have not yet turned into work on a machine, so a claim between two refreshes is never lost.
"""

from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleets.flows import WORK_LIVE
from fleets.models import Fleet, Machine, MachineState, Work
from marketplace.catalog.gpus import lookup_gpu
from marketplace.catalog.regions import jurisdiction_of
from marketplace.flows import RENTAL_UNPLACED
from marketplace.models import GpuModel, HealthState, Offer, Region, Rental

MATCHABLE_HEALTH = (HealthState.HEALTHY, HealthState.DEGRADED, HealthState.UNKNOWN)  # unhealthy is never matched


def shape_of(machine: Machine) -> tuple[str, str]:
    """(region code, instance type) of the offer a machine sells in; machines alike share one offer."""
    region = machine.region or machine.country.lower() or "unspecified"
    simulated = "-sim" if machine.simulated else ""
    return region, (f"{machine.gpu}x{machine.gpu_count}-{machine.vcpus}c-{machine.memory_gb:g}g"
                    f"-{machine.gpu_memory_gb}gb{simulated}")


def machine_is_free(machine: Machine, busy: set[int] | None = None) -> bool:
    """Ready, not unhealthy, with a GPU, and without live work (`busy`: the fleet's busy machine ids, if known)."""
    if not (machine.state == MachineState.READY and machine.health in MATCHABLE_HEALTH and machine.gpu_count > 0):
        return False
    if busy is not None:
        return machine.pk not in busy
    return not Work.objects.filter(machine=machine, state__in=WORK_LIVE).exists()


@transaction.atomic
def fleet_offers_refresh(fleet: Fleet) -> dict[str, int]:
    """Upsert one offer per machine shape with its free count; shapes no machine offers any more go to 0."""
    Fleet.objects.select_for_update().filter(pk=fleet.pk).first()  # one refresh per fleet at a time
    offers = {(o.region.code, o.instance_type): o for o in fleet.partner.offers.select_related("region")}
    free: dict[tuple[str, str], int] = defaultdict(int)
    busy = set(Work.objects.filter(machine__fleet=fleet, state__in=WORK_LIVE).values_list("machine_id", flat=True))
    for machine in fleet.machines.filter(gpu_count__gt=0).exclude(state=MachineState.REMOVED):
        shape = shape_of(machine)
        if shape not in offers:
            offers[shape] = _offer_for(fleet, machine, shape)
        if machine_is_free(machine, busy):
            free[shape] += 1
    counts = {}
    for shape, offer in offers.items():
        available = max(0, free.get(shape, 0) - _held_not_placed(offer))
        if offer.available_nodes != available:
            Offer.objects.filter(pk=offer.pk).update(available_nodes=available, capacity_read_at=timezone.now())
        counts[offer.instance_type] = available
    return counts


def _held_not_placed(offer: Offer) -> int:
    """Nodes rentals reserved on the offer that are not yet work on a machine."""
    held = Rental.objects.filter(offer=offer, state__in=RENTAL_UNPLACED, reserved_nodes__gt=0)
    reserved = sum(held.values_list("reserved_nodes", flat=True))
    if not reserved:
        return 0
    placed = Work.objects.filter(Q(node__rental__in=held), state__in=WORK_LIVE).count()
    return max(0, reserved - placed)


def _offer_for(fleet: Fleet, machine: Machine, shape: tuple[str, str]) -> Offer:
    region_code, instance_type = shape
    jurisdiction = jurisdiction_of(machine.country) if machine.country else ""
    region, _ = Region.objects.get_or_create(partner=fleet.partner, code=region_code, defaults={
        "display_name": region_code, "country": machine.country, "jurisdiction": jurisdiction})
    spec = lookup_gpu(machine.gpu)
    gpu, _ = GpuModel.objects.get_or_create(name=spec.name, defaults={
        "memory_gb": spec.memory_gb, "architecture": spec.architecture, "vendor": spec.vendor})
    price = Decimal(fleet.price_per_gpu_hour)
    offer, _ = Offer.objects.get_or_create(partner=fleet.partner, region=region, instance_type=instance_type, defaults={
        "gpu": gpu, "gpus_per_node": machine.gpu_count, "vcpus": machine.vcpus, "memory_gb": machine.memory_gb,
        "price_per_hour": price * machine.gpu_count, "price_per_gpu_hour": price, "available_nodes": 0,
        "country": machine.country, "jurisdiction": jurisdiction, "gpu_memory_gb": machine.gpu_memory_gb,
        "updated_at": timezone.now()})
    offer.region = region
    return offer
