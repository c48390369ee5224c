"""Rental tasks: each loads by id, returns if already done, and calls one service."""

from celery import shared_task
from django.conf import settings

from marketplace.services import plan_delivery, preemption, reconcile, rental_stops, rentals
from marketplace.services.budgets import budget_enforce


@shared_task(ignore_result=True)
def provision_rental_task(rental_id: int) -> None:
    rentals.rental_provision(rental_id)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def poll_rental_task(self, rental_id: int) -> None:
    if not rentals.rental_poll(rental_id):
        raise self.retry(countdown=settings.PROVISION_POLL_S)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def deliver_plan_task(self, node_id: int) -> None:
    last_try = self.request.retries + 1 >= settings.SSH_PLAN_ATTEMPTS
    if not plan_delivery.node_plan_deliver(node_id, last_try=last_try):
        raise self.retry(countdown=plan_delivery.plan_retry_countdown(self.request.retries))


@shared_task(bind=True, ignore_result=True, max_retries=None)
def terminate_rental_task(self, rental_id: int) -> None:
    if not rentals.rental_finish_termination(rental_id):
        raise self.retry(countdown=min(60, 2 ** min(self.request.retries, 6)))


@shared_task(bind=True, ignore_result=True, max_retries=None)
def stop_rental_task(self, rental_id: int) -> None:
    if not rental_stops.rental_stop_nodes(rental_id):
        raise self.retry(countdown=min(60, 2 ** min(self.request.retries, 6)))


@shared_task(bind=True, ignore_result=True, max_retries=None)
def start_rental_task(self, rental_id: int) -> None:
    if not rental_stops.rental_start_poll(rental_id):
        raise self.retry(countdown=settings.PROVISION_POLL_S)


@shared_task(ignore_result=True)
def expire_rentals_task() -> None:
    rentals.rentals_expire()


@shared_task(ignore_result=True)
def budget_enforce_task() -> None:
    budget_enforce()


@shared_task(ignore_result=True)
def reconcile_task() -> None:
    reconcile.reconcile_all()


@shared_task(ignore_result=True)
def spot_watch_task() -> None:
    preemption.spot_rentals_watch()
