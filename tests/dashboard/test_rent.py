"""Rent flow: labelled form, live preview with the explanation, confirm, errors that name the field."""

from decimal import Decimal

import pytest
from django.test import Client

from marketplace.models import Rental

PREVIEW = "/rent/preview/"
HTMX = {"HX-Request": "true"}


def eu_h100(**extra) -> dict:
    return {"gpu": "H100", "jurisdictions": ["EU"], "max_hours": "2", **extra}


def test_rent_form_has_a_label_for_every_input(teammate, catalogue):
    html = teammate.client.get("/rent/").content.decode()
    for label in ("GPU", "GPUs per node", "Nodes", "Interconnect at least", "Spot (interruptible, cheaper)",
                  "Max price per GPU-hour (USD)", "Countries", "Regions", "Only these partners",
                  "Never these partners", "Required certifications", "Max hours", "SSH public key"):
        assert f">{label}</label>" in html
    assert "<legend>Jurisdictions</legend>" in html and "<legend>Partner headquarters in</legend>" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_form_is_prefilled_from_the_query_string(teammate, catalogue):
    html = teammate.client.get("/rent/?gpu=H100&jurisdictions=EU").content.decode()
    assert '<option value="H100" selected>' in html
    assert 'value="EU"' in html and 'checked' in html


def test_preview_ranks_placements_cheapest_first_with_cost_bound(teammate, catalogue):
    response = teammate.client.post(PREVIEW, eu_h100(), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "h100x1" in html and "$3.50" in html and "$7.00" in html  # 2 h × $3.50
    assert "gpu_8x_h100_sxm5" not in html  # US offer left out by the jurisdiction rule


def test_preview_explains_exclusions_and_marks_the_rule_to_relax(teammate, catalogue):
    response = teammate.client.post(PREVIEW, eu_h100(gpus_per_node="8", max_price_per_gpu_hour="1"), headers=HTMX)
    html = response.content.decode()
    assert "No offer satisfies this request" in html
    assert "Relax <strong>gpu</strong>" in html
    assert '<tr class="relax-row"><th scope="row">gpu <span class="badge warn">relax this</span>' in html
    assert '<th scope="row">max_price</th><td class="num">2</td>' in html


def test_preview_errors_name_the_field(teammate, catalogue):
    response = teammate.client.post(PREVIEW, eu_h100(countries="DE, XX", nodes="many", max_hours="0"), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert '<a href="#id_countries">Countries</a>: unknown country code' in html
    assert '<a href="#id_nodes">Nodes</a>: A valid integer is required.' in html
    assert '<a href="#id_max_hours">Max hours</a>' in html
    assert 'id="id_countries_error" hx-swap-oob="true"><p>unknown country code' in html


def test_confirm_creates_the_rental_and_opens_its_page(teammate, catalogue):
    response = teammate.client.post("/rent/", eu_h100(idempotency_key="form-1", ssh_public_key="ssh-ed25519 AAAAC3 me"))
    rental = Rental.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/rentals/{rental.pk}/"
    assert rental.workspace == teammate.workspace and rental.created_by == teammate.user
    assert rental.request["policy"]["jurisdictions"] == ["EU"] and rental.max_hours == Decimal("2")
    assert rental.ssh_public_key == "ssh-ed25519 AAAAC3 me"


def test_submitting_the_same_form_twice_rents_once(teammate, catalogue):
    first = teammate.client.post("/rent/", eu_h100(idempotency_key="form-1"))
    second = teammate.client.post("/rent/", eu_h100(idempotency_key="form-1"))
    assert first["Location"] == second["Location"] and Rental.objects.count() == 1


def test_confirm_with_no_placement_shows_what_to_relax(teammate, catalogue):
    response = teammate.client.post("/rent/", eu_h100(countries="JP"))
    assert response.status_code == 409
    assert "relax this" in response.content.decode() and not Rental.objects.exists()


def test_budget_refusal_is_shown_on_max_hours(teammate, catalogue):
    teammate.workspace.monthly_budget = Decimal("5")
    teammate.workspace.save()
    response = teammate.client.post("/rent/", eu_h100(max_hours="10"))
    html = response.content.decode()
    assert response.status_code == 402
    assert 'id="id_max_hours_error"><p>this rental may cost up to $35.00' in html


def test_bad_ssh_key_is_refused_on_its_field(teammate, catalogue):
    response = teammate.client.post("/rent/", eu_h100(ssh_public_key="hello"))
    assert response.status_code == 400 and "not an OpenSSH public key" in response.content.decode()


@pytest.mark.parametrize("method,path", [("get", "/rent/"), ("post", "/rent/"), ("post", PREVIEW)])
def test_viewer_cannot_rent(viewer, catalogue, method, path):
    response = getattr(viewer.client, method)(path, eu_h100() if method == "post" else None)
    assert response.status_code == 403 and not Rental.objects.exists()


def test_viewer_sees_no_rent_link(viewer, catalogue):
    html = viewer.client.get("/rentals/").content.decode()
    assert 'href="/rent/"' not in html


def test_rent_post_without_csrf_token_is_refused(teammate, catalogue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(teammate.user)
    assert client.post("/rent/", eu_h100()).status_code == 403
    assert not Rental.objects.exists()
