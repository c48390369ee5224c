"""Rentals list and page: state badges, cost, the live timeline partial, SSH details, terminate."""

from marketplace.models import RentalState

from .rows import make_rental

HTMX = {"HX-Request": "true"}


def test_list_shows_state_badges_and_cost(owner, catalogue):
    make_rental(owner.workspace, catalogue["h100_par_1x"], hours_running=2, price="3.50")
    html = owner.client.get("/rentals/").content.decode()
    assert '<span class="badge state state-running">running</span>' in html
    assert "$7.00" in html  # 2 h × $3.50


def test_empty_list_explains_how_to_rent(owner):
    html = owner.client.get("/rentals/").content.decode()
    assert "No rentals yet" in html and 'href="/rent/"' in html


def test_list_filters_by_state(owner, catalogue):
    make_rental(owner.workspace, catalogue["h100_par_1x"])
    assert "No failed rentals" in owner.client.get("/rentals/?state=failed").content.decode()


def test_other_workspaces_rentals_are_invisible(owner, stranger, catalogue):
    rental = make_rental(stranger.workspace, catalogue["h100_par_1x"])
    assert owner.client.get(f"/rentals/{rental.pk}/").status_code == 404
    assert f"Rental {rental.pk}<" not in owner.client.get("/rentals/").content.decode()
    assert owner.client.post(f"/rentals/{rental.pk}/terminate/").status_code == 404


def test_page_shows_timeline_cost_and_ssh_when_running(owner, catalogue):
    rental = make_rental(owner.workspace, catalogue["h100_par_1x"], hours_running=1)
    html = owner.client.get(f"/rentals/{rental.pk}/").content.decode()
    assert "reserved 1× nimbus h100x1" in html and "1 node(s) running at nimbus" in html
    assert "<code>ssh ubuntu@203.0.113.7</code>" in html
    assert 'id="rental-cost" class="price">$3.50' in html


def test_live_partial_keeps_polling_until_the_rental_is_final(owner, catalogue):
    rental = make_rental(owner.workspace, catalogue["h100_par_1x"], state=RentalState.PROVISIONING)
    live = owner.client.get(f"/rentals/{rental.pk}/", headers=HTMX)
    assert live.status_code == 200 and live["Cache-Control"] == "no-store"
    assert live.content.decode().startswith('<div id="rental-live" hx-get=')
    assert 'hx-trigger="every 1s"' in live.content.decode() and "<html" not in live.content.decode()
    rental.state = RentalState.TERMINATED
    rental.save()
    final = owner.client.get(f"/rentals/{rental.pk}/", headers=HTMX).content.decode()
    assert "hx-trigger" not in final and "state-terminated" in final


def test_terminate_asks_for_confirmation_then_terminates(teammate, catalogue):
    rental = make_rental(teammate.workspace, catalogue["h100_par_1x"])
    confirm = teammate.client.get(f"/rentals/{rental.pk}/terminate/").content.decode()
    assert "Terminate rental" in confirm and "csrfmiddlewaretoken" in confirm
    assert rental.state == RentalState.RUNNING
    response = teammate.client.post(f"/rentals/{rental.pk}/terminate/")
    assert response.status_code == 302 and response["Location"] == f"/rentals/{rental.pk}/"
    rental.refresh_from_db()
    assert rental.state == RentalState.TERMINATING
    assert rental.events.last().actor == teammate.user.username
    again = teammate.client.post(f"/rentals/{rental.pk}/terminate/", follow=True)
    assert "already terminating" in again.content.decode()


def test_viewer_sees_no_terminate_button_and_cannot_terminate(viewer, catalogue):
    rental = make_rental(viewer.workspace, catalogue["h100_par_1x"])
    assert "Terminate…" not in viewer.client.get(f"/rentals/{rental.pk}/").content.decode()
    assert viewer.client.post(f"/rentals/{rental.pk}/terminate/").status_code == 403
    rental.refresh_from_db()
    assert rental.state == RentalState.RUNNING


def test_page_renders_in_a_fixed_number_of_queries(owner, catalogue, django_assert_max_num_queries):
    # One query per app that owns rentals (deployments, jobs, pods: the rental-owners hook), none per rental.
    rental = make_rental(owner.workspace, catalogue["h100_par_1x"])
    with django_assert_max_num_queries(13):
        owner.client.get(f"/rentals/{rental.pk}/", headers=HTMX)
    for _ in range(20):
        make_rental(owner.workspace, catalogue["h100_par_1x"])
    with django_assert_max_num_queries(13):
        owner.client.get("/rentals/")
