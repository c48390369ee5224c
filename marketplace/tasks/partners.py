"""Partner catalogue sync tasks: each loads by id and calls one service."""

from celery import shared_task

from marketplace.models import Partner
from marketplace.services.partners import partner_sync, partner_verify, partners_to_sync


@shared_task(ignore_result=True)
def verify_partner_task(partner_id: int) -> None:
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        return
    partner_verify(partner=partner)


@shared_task(ignore_result=True)
def sync_partner_task(partner_id: int) -> None:
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        return
    partner_sync(partner=partner)


@shared_task(ignore_result=True)
def sync_all_partners_task() -> None:
    for partner_id in partners_to_sync():
        sync_partner_task.delay(partner_id)
