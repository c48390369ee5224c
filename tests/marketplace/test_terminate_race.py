"""A terminate that races the worker: the rental moved on since it was read, and the terminate still lands."""

from marketplace.models import Rental
from marketplace.services.rentals import rental_terminate
from tests.conftest import drive_rental

EU_H200 = {"gpu": "H200", "gpus_per_node": 1, "nodes": 1, "policy": {"jurisdictions": ["EU"]}, "max_hours": 2}


def test_terminate_of_a_rental_read_as_pending_lands_after_the_worker_ran_it(owner, sim_catalog):
    rental_id = owner.client.post("/api/v1/rentals", EU_H200, format="json").json()["id"]
    stale = Rental.objects.get(pk=rental_id)  # what the API view read: pending
    assert drive_rental(rental_id).state == "running"  # meanwhile the worker provisioned it
    rental_terminate(stale, reason="terminated by the user", actor="owner")
    rental = Rental.objects.get(pk=rental_id)
    assert rental.state == "terminating"
    assert rental.events.filter(from_state="running", to_state="terminating", actor="owner").count() == 1
    assert drive_rental(rental_id).state == "terminated"


def test_terminate_of_a_rental_already_final_changes_nothing(owner, sim_catalog):
    rental_id = owner.client.post("/api/v1/rentals", EU_H200, format="json").json()["id"]
    stale = Rental.objects.get(pk=rental_id)
    rental_terminate(Rental.objects.get(pk=rental_id), reason="first", actor="owner")
    drive_rental(rental_id)
    events = Rental.objects.get(pk=rental_id).events.count()
    rental_terminate(stale, reason="again", actor="owner")
    assert Rental.objects.get(pk=rental_id).state == "terminated"
    assert Rental.objects.get(pk=rental_id).events.count() == events


def test_node_the_partner_starts_after_the_rental_was_terminated_is_terminated_too(owner, sim_catalog, monkeypatch):
    from marketplace.services import rentals

    real_adapter_for = rentals.adapter_for

    class TerminatedMidLaunch:
        """The user's terminate and its task run while the partner is still answering the launch."""

        def __init__(self, adapter):
            self.adapter = adapter

        def provision(self, spec):
            rental = Rental.objects.get(pk=int(spec.rental_id))
            rental_terminate(rental, reason="terminated by the user", actor="owner")
            assert rentals.rental_finish_termination(rental.pk)  # no partner ref yet: the row is just closed
            return self.adapter.provision(spec)

        def __getattr__(self, name):
            return getattr(self.adapter, name)

    monkeypatch.setattr(rentals, "adapter_for", lambda partner: TerminatedMidLaunch(real_adapter_for(partner)))
    rental_id = owner.client.post("/api/v1/rentals", EU_H200, format="json").json()["id"]
    rentals.rental_provision(rental_id)
    rental = Rental.objects.get(pk=rental_id)
    assert rental.state == "terminated"
    assert [n for n in sim_catalog.store.list_nodes(rental.partner.slug)] == []  # nothing left running there
    assert set(rental.nodes.values_list("state", flat=True)) == {"terminated"}
