"""Atomic capacity: an offer's known capacity is claimed by one conditional UPDATE, never read-then-write.

The count composes the partner's last report with the broker's own reservations: a reservation made before
the partner's report (`capacity_read_at`) is already in the partner's number, one made after is subtracted
from it. Releasing gives a reservation back only if the count still holds it, so nothing is counted twice.
"""

from datetime import datetime

from django.db.models import F, Q, Sum
from django.db.models.functions import Greatest

from marketplace.models import Offer, Partner, Rental, RentalState


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
        still_counted = Q(capacity_read_at__isnull=True)
        if rental.reserved_at is not None:
            still_counted |= Q(capacity_read_at__lt=rental.reserved_at)
        Offer.objects.filter(still_counted, pk=rental.offer_id, available_nodes__isnull=False).update(
            available_nodes=F("available_nodes") + reserved)
        rental.reserved_nodes = 0


def partner_capacity_reported(partner: Partner, *, read_at: datetime) -> None:
    """After a sync wrote the partner's absolute counts (as of `read_at`): subtract what the broker reserved
    since, which the partner could not have counted yet. Call inside the sync's transaction, after the write."""
    Offer.objects.filter(partner=partner, available_nodes__isnull=False).update(capacity_read_at=read_at)
    since = (Rental.objects.filter(offer__partner=partner, reserved_nodes__gt=0, reserved_at__gt=read_at)
             .exclude(state__in=(RentalState.TERMINATED, RentalState.FAILED, RentalState.PREEMPTED))
             .values("offer_id").annotate(held=Sum("reserved_nodes")))
    for row in since:
        Offer.objects.filter(pk=row["offer_id"], available_nodes__isnull=False).update(
            available_nodes=Greatest(F("available_nodes") - row["held"], 0))
