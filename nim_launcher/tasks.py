"""Deployment tasks: the control loop, re-run until steady, and the periodic sweep with autoscaling."""

from celery import shared_task

from nim_launcher.gateway.stats import deployment_stats
from nim_launcher.services import deployments

RECONCILE_AGAIN_S = 2


@shared_task(ignore_result=True)
def deployment_reconcile_task(deployment_id: int) -> None:
    if not deployments.deployment_reconcile(deployment_id):
        deployments.enqueue_reconcile(deployment_id, countdown=RECONCILE_AGAIN_S)


@shared_task(ignore_result=True)
def deployments_sweep_task() -> None:
    for deployment in deployments.live_deployments():
        stats = deployment_stats(deployment.pk)
        deployments.deployment_autoscale(deployment, requests_per_minute=stats.get("requests_per_minute", 0.0))
        deployments.enqueue_reconcile(deployment.pk)
