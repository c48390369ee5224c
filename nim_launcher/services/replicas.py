"""Deployments follow their replicas' rentals: a rental change wakes the deployment's control loop."""

from nim_launcher.models import Replica


def replica_rental_changed(rental_id: int) -> None:
    deployment_id = Replica.objects.filter(rental_id=rental_id).values_list("deployment_id", flat=True).first()
    if deployment_id is not None:
        from nim_launcher.services.deployments import enqueue_reconcile

        enqueue_reconcile(deployment_id)
