from django.apps import AppConfig


class NimLauncherConfig(AppConfig):
    name = "nim_launcher"
    verbose_name = "NIM deployments"

    def ready(self) -> None:
        """Listen to marketplace's announcements and answer its hooks; register the Celery tasks."""
        from marketplace import hooks, signals
        from marketplace.models import Node, Rental
        from nim_launcher import flows, receivers, tasks  # noqa: F401  (flows: registered; tasks: by name for scheduling)
        from nim_launcher.selectors import replica_owners
        from nim_launcher.services.launch_plans import launch_plan_for, served_ports

        signals.state_changed.connect(receivers.on_rental_state_changed, sender=Rental,
                                      dispatch_uid="nim_launcher.rental_state_changed")
        signals.node_health_changed.connect(receivers.on_node_health_changed, sender=Node,
                                            dispatch_uid="nim_launcher.node_health_changed")
        signals.preemption_noticed.connect(receivers.on_preemption_noticed, sender=Rental,
                                           dispatch_uid="nim_launcher.preemption_noticed")
        hooks.register_launch_plan(launch_plan_for)
        hooks.register_served_ports(served_ports)
        hooks.register_rental_owners(replica_owners)
