"""No double-booking under real concurrency: 120 rentals on 80 threads with their own PostgreSQL connections.

80 threads stay under PostgreSQL's default max_connections (100) with room for the test's own connection.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection, connections

from marketplace.models import Offer, Rental, RentalAttempt
from marketplace.services.capacity import offer_claim
from marketplace.services.rentals import rental_provision

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
CONCURRENCY = 120
THREADS = 80


def _in_thread(fn, *args):
    try:
        return fn(*args)
    finally:
        connections.close_all()


def test_conditional_claim_never_oversells(real_catalog):
    offer = Offer.objects.filter(price_status="ok").first()
    Offer.objects.filter(pk=offer.pk).update(available_nodes=10)
    start = threading.Event()

    def claim(_):
        start.wait()
        return offer_claim(offer_id=offer.pk, nodes=1)[0]

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_in_thread, claim, i) for i in range(CONCURRENCY)]
        start.set()
        results = [f.result() for f in futures]
    assert results.count(True) == 10
    assert Offer.objects.get(pk=offer.pk).available_nodes == 0


def test_concurrent_rentals_on_one_offer_get_exactly_its_capacity(owner, sim_catalog):
    """≥100 rentals race for one offer with capacity 10: exactly 10 win it, the rest fail over or fail."""
    from marketplace.placement import parse_placement_request
    from marketplace.services.rentals import RentalInput, rental_create, request_hash

    target = Offer.objects.filter(gpu__name="H200", gpus_per_node=1, jurisdiction="EU", price_status="ok",
                                  partner__status="active").order_by("price_per_hour").first()
    Offer.objects.filter(pk=target.pk).update(available_nodes=10)
    requests.post(f"{sim_catalog.url}/_control/{target.partner.slug}",
                  json={"capacity": 50, "instance_type": target.instance_type}, timeout=5)  # the broker's count binds
    Offer.objects.exclude(pk=target.pk).filter(partner__status="active").update(available_nodes=0)
    body = {"gpu": "H200", "gpus_per_node": 1, "policy": {"partners": {"allow": [target.partner.slug]}}}
    rentals = [rental_create(workspace=owner.workspace, user=owner.user, body_hash=request_hash(body),
                             data=RentalInput(request=parse_placement_request(body), max_hours=1))[0]
               for _ in range(CONCURRENCY)]
    assert connection.vendor == "postgresql"
    start = threading.Event()

    def provision(rental_id):
        start.wait()
        rental_provision(rental_id)

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_in_thread, provision, r.pk) for r in rentals]
        start.set()
        for future in futures:
            future.result()
    won = RentalAttempt.objects.filter(offer=target, outcome="started").count()
    assert won == 10
    assert len(sim_catalog.store.list_nodes(target.partner.slug)) == 10
    assert Offer.objects.get(pk=target.pk).available_nodes == 0
    states = list(Rental.objects.values_list("state", flat=True))
    assert states.count("provisioning") == 10 and states.count("failed") == CONCURRENCY - 10
    assert all(r.failure_reason.startswith("no capacity") for r in Rental.objects.filter(state="failed"))
