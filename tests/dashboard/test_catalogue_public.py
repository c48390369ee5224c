"""A newcomer browses and compares prices before signing up; sign-in is asked at "Rent"."""

from urllib.parse import quote

import pytest
from django.test import Client

from .conftest import PASSWORD, make_user, offer, partner, region

HTMX = {"HX-Request": "true"}


@pytest.fixture
def visitor() -> Client:
    return Client()


@pytest.mark.parametrize("path", ["/offers/", "/offers/?gpu=H100&jurisdiction=EU", "/offers/compare/",
                                  "/offers/compare/?gpu=L4"])
def test_catalogue_pages_open_without_an_account(catalogue, visitor, path):
    response = visitor.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sign in</a>" in html and "Create an account</a>" in html and "Sign out" not in html


def test_visitor_gets_the_htmx_results_partial_and_the_offer_page(catalogue, visitor):
    partial = visitor.get("/offers/?gpu=H100&jurisdiction=EU", headers=HTMX)
    assert partial.status_code == 200 and {o.instance_type for o in partial.context["page"]} == {"h100x8", "h100x1"}
    page = visitor.get(f"/offers/{catalogue['h100_fra_8x'].pk}/")
    assert page.status_code == 200 and b"h100x8" in page.content


def test_offers_of_suspended_partners_stay_hidden_from_visitors(catalogue, visitor):
    assert visitor.get(f"/offers/{catalogue['hidden_h100'].pk}/").status_code == 404
    assert b"cheap_h100" not in visitor.get("/offers/").content


def test_rent_asks_the_visitor_to_sign_in_and_comes_back_to_the_rent_form(catalogue, visitor):
    subject = catalogue["h100_fra_8x"]
    page = visitor.get(f"/offers/{subject.pk}/").content.decode()
    rent_url = "/rent/?gpu=H100&gpus_per_node=8&partners_allow=nimbus&regions=eu-central-1"
    assert rent_url.replace("&", "&amp;") in page
    gate = visitor.get(rent_url)
    assert gate.status_code == 302 and gate["Location"] == f"/accounts/login/?next={quote(rent_url, safe='/')}"
    make_user("newcomer@example.test")
    signed_in = visitor.post("/accounts/login/", {"username": "newcomer@example.test", "password": PASSWORD,
                                                  "next": rent_url})
    assert signed_in.status_code == 302 and signed_in["Location"] == rent_url


def test_signing_up_from_the_rent_gate_lands_on_the_rent_form(catalogue, visitor):
    rent_url = "/rent/?gpu=H100&gpus_per_node=8"
    login_page = visitor.get(f"/accounts/login/?next={quote(rent_url)}").content.decode()
    assert f'href="/accounts/signup/?next={quote(rent_url, safe="/")}"' in login_page
    signup_page = visitor.get(f"/accounts/signup/?next={quote(rent_url)}").content.decode()
    assert f'name="next" value="{rent_url.replace("&", "&amp;")}"' in signup_page
    response = visitor.post("/accounts/signup/", {"email": "new@example.test", "workspace": "new-lab",
                                                  "password": "a long Passphrase 42", "password_confirm":
                                                  "a long Passphrase 42", "next": rent_url})
    assert response.status_code == 302 and response["Location"] == rent_url
    assert visitor.get(rent_url).status_code == 200


def test_signup_ignores_an_offsite_next(db, visitor):
    response = visitor.post("/accounts/signup/", {"email": "x@example.test", "workspace": "x-lab",
                                                  "password": "a long Passphrase 42",
                                                  "password_confirm": "a long Passphrase 42",
                                                  "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/offers/"


def test_signed_in_user_still_sees_their_workspace_on_catalogue_pages(catalogue, viewer):
    html = viewer.client.get("/offers/compare/").content.decode()
    assert "acme-ml" in html and "Sign out" in html


def test_compare_opens_on_the_most_offered_gpu(catalogue, visitor):
    nimbus = partner("nimbus")
    fra = region(nimbus, "eu-central-1", "DE", "EU")
    for index in range(3):
        offer(nimbus, fra, "L4", instance_type=f"l4x{index + 2}", gpus=index + 2, price="1.00")
    response = visitor.get("/offers/compare/")
    assert response.context["gpu"].name == "L4"  # 4 L4 offers now, 3 H100 (the suspended partner's not counted)
    assert [s.label for s in response.context["by_partner"]] == ["Nimbus Cloud"]


def test_compare_charts_every_gpu_model_cheapest_and_median(catalogue, visitor):
    response = visitor.get("/offers/compare/?gpu=H100")
    overview = {s.label: s for s in response.context["overview"]}
    # trusted prices of active partners only: the unpriced L40S and the suspended partner's H100 are left out
    assert set(overview) == {"H100", "A100-80GB", "L4", "B200"}
    assert (overview["H100"].count, overview["H100"].lowest, overview["H100"].median) == (3, 2.5, 3.0)
    assert [s.label for s in response.context["overview"]][0] == "L4"  # cheapest model first
    html = response.content.decode()
    assert "<title id=\"chart-price-per-gpu-hour-of-every-gpu-model-t\">" in html
    assert "<th scope=\"row\">B200</th>" in html  # the table alternative of the chart
