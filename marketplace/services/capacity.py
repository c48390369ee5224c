"""Atomic capacity: an offer's known capacity is claimed by one conditional UPDATE, never read-then-write."""

from django.db.models import F

from marketplace.models import Offer, Rental


def offer_claim(*, offer_id: int, nodes: int) -> tuple[bool, int]:
    """Claim `nodes` of an offer. Returns (ok, reserved): unknown capacity is allowed but reserves nothing.

    The UPDATE's WHERE clause is the guard: under any concurrency the count never drops below zero.
    """
    claimed = Offer.objects.filter(pk=offer_id, available_nodes__gte=nodes).update(
        available_nodes=F("available_nodes") - nodes)
    if claimed:
        return True, nodes
    if Offer.objects.filter(pk=offer_id, available_nodes__isnull=True).exists():
        return True, 0
    return False, 0


def rental_release_capacity(rental: Rental) -> None:
    """Give the rental's reserved nodes back to its offer, exactly once (compare-and-set on the count)."""
    reserved = rental.reserved_nodes
    if not reserved or rental.offer_id is None:
        return
    if Rental.objects.filter(pk=rental.pk, reserved_nodes=reserved).update(reserved_nodes=0):
        Offer.objects.filter(pk=rental.offer_id, available_nodes__isnull=False).update(
            available_nodes=F("available_nodes") + reserved)
        rental.reserved_nodes = 0
