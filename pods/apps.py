from django.apps import AppConfig


class PodsConfig(AppConfig):
    name = "pods"
    verbose_name = "Dev pods"

    def ready(self) -> None:
        """Follow the pods' rentals and answer marketplace's hooks; register the Celery tasks."""
        from marketplace import hooks, signals
        from marketplace.models import Rental
        from pods import flows, receivers, tasks  # noqa: F401  (flows: registered; tasks: by name for scheduling)
        from pods.selectors import pod_owners
        from pods.services.launch_plans import pod_launch_plan, public_ports

        signals.state_changed.connect(receivers.on_rental_state_changed, sender=Rental,
                                      dispatch_uid="pods.rental_state_changed")
        hooks.register_launch_plan(pod_launch_plan)
        hooks.register_public_ports(public_ports)
        hooks.register_rental_owners(pod_owners)
