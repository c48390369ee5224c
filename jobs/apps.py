from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Batch jobs"

    def ready(self) -> None:
        """Follow the job's rentals, answer marketplace's hooks, register the Celery tasks."""
        from jobs import flows, receivers, tasks  # noqa: F401  (flows: registered; tasks: by name for scheduling)
        from jobs.plans import launch_plan_for
        from jobs.selectors import job_owners
        from marketplace import hooks, signals
        from marketplace.models import Node, Rental

        signals.state_changed.connect(receivers.on_rental_state_changed, sender=Rental,
                                      dispatch_uid="jobs.rental_state_changed")
        signals.preemption_noticed.connect(receivers.on_preemption_noticed, sender=Rental,
                                           dispatch_uid="jobs.preemption_noticed")
        signals.node_health_changed.connect(receivers.on_node_health_changed, sender=Node,
                                            dispatch_uid="jobs.node_health_changed")
        hooks.register_launch_plan(launch_plan_for)
        hooks.register_rental_owners(job_owners)
