"""Marketplace's news that concerns fleets: a rental on a fleet machine ended, so its machine may be free."""

from fleets.models import Fleet
from fleets.services.offers import fleet_offers_refresh
from marketplace.flows import RENTAL_FLOW


def on_rental_state_changed(sender, instance, from_state, to_state, **kwargs) -> None:
    """Keep the fleet's capacity in step when one of its rentals is placed or ends."""
    if instance.partner_id is None or (to_state not in RENTAL_FLOW.final and to_state != "provisioning"):
        return
    fleet = Fleet.objects.filter(partner_id=instance.partner_id).first()
    if fleet is not None:
        fleet_offers_refresh(fleet)
