from django.apps import AppConfig


class FleetsConfig(AppConfig):
    name = "fleets"
    verbose_name = "Fleets (own machines)"

    def ready(self) -> None:
        """Provision on fleet partners through the fleet adapter; keep private offers in step with rentals."""
        from fleets import flows, receivers, tasks  # noqa: F401  (flows: registered; tasks: by name)
        from fleets.adapter import FleetAdapter
        from marketplace import hooks, signals
        from marketplace.models import PartnerKind, Rental

        hooks.register_adapter_factory(PartnerKind.FLEET, FleetAdapter)
        signals.state_changed.connect(receivers.on_rental_state_changed, sender=Rental,
                                      dispatch_uid="fleets.rental_state_changed")
