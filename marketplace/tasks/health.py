"""Periodic node-health work: the stale-heartbeat sweep and the partner reliability refresh."""

from celery import shared_task

from marketplace.services.node_health import node_health_sweep, partner_reliability_refresh


@shared_task(ignore_result=True)
def node_health_sweep_task() -> dict[str, int]:
    """Mark running nodes whose agent went quiet as unknown, then unhealthy."""
    return node_health_sweep()


@shared_task(ignore_result=True)
def partner_reliability_task() -> dict[str, float]:
    """Recompute every partner's reliability score over the last 7 days."""
    return partner_reliability_refresh()
