"""Real-browser checks of the dashboard with Chromium (Debian's /usr/bin/chromium) against live_server."""

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from marketplace.models import Membership, Role, Workspace
from marketplace.services.api_keys import resolve_api_key

from .conftest import PASSWORD, offer, partner, region

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def browser(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def eu_catalogue(transactional_db):
    nimbus, lambda_ = partner("nimbus", name="Nimbus Cloud"), partner("lambda", name="Lambda")
    fra, par = region(nimbus, "eu-central-1", "DE", "EU"), region(nimbus, "eu-west-3", "FR", "EU")
    tex = region(lambda_, "us-south-1", "US", "US")
    offer(nimbus, fra, "H100", instance_type="h100x8", gpus=8, price="24.00", spot="12.00",
          interconnect="infiniband", available_nodes=3)
    offer(nimbus, par, "H100", instance_type="h100x1", price="3.50")
    offer(lambda_, tex, "H100", instance_type="gpu_8x_h100_sxm5", gpus=8, price="20.00", interconnect="nvlink")
    offer(lambda_, tex, "A100-80GB", instance_type="gpu_1x_a100", price="1.29")
    offer(nimbus, fra, "L4", instance_type="l4x1", price="0.80", spot="0.30")


def sign_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/offers/"))


def test_sign_up_filter_eu_h100_live_and_create_an_api_key(page, live_server, eu_catalogue):
    expect = playwright_api.expect
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email").fill("ada@example.test")
    page.get_by_label("Workspace name").fill("ada-lab")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.screenshot(path=SHOTS / "signup.png")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/offers/$"))
    expect(page.locator("#offer-count")).to_contain_text("5 offers match")
    page.screenshot(path=SHOTS / "offers.png", full_page=True)

    page.evaluate("window.__sameDocument = true")
    page.get_by_label("GPU", exact=True).select_option("H100")
    page.get_by_label("Jurisdiction").select_option("EU")
    expect(page.locator("#offer-count")).to_contain_text("2 offers match")
    page.get_by_label("Max price per GPU-hour (USD)").press_sequentially("3.25", delay=50)
    expect(page.locator("#offer-count")).to_contain_text("1 offer matches")
    rows = page.locator("#offer-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("h100x8")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, no page load
    assert "/offers/" in page.url and "jurisdiction=EU" in page.url
    page.screenshot(path=SHOTS / "offers-filtered.png", full_page=True)

    page.get_by_label("Max price per GPU-hour (USD)").fill("-1")
    expect(page.locator("#id_max_price_per_gpu_hour_error")).to_contain_text("greater than or equal to 0")
    expect(page.locator("#offer-results .error-summary")).to_be_visible()
    page.screenshot(path=SHOTS / "offers-invalid-filter.png", full_page=True)
    assert page.evaluate("window.__sameDocument") is True

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("CI pipeline")
    page.get_by_role("button", name="Create key").click()
    token = page.get_by_label(re.compile("API key")).input_value()
    assert re.fullmatch(r"gpub_[0-9a-f]{12}_\S+", token)
    key = resolve_api_key(token)
    assert key is not None and key.workspace.name == "ada-lab"
    page.screenshot(path=SHOTS / "key-created.png", full_page=True)
    page.get_by_role("link", name="Back to API keys").click()
    expect(page.get_by_role("cell", name="CI pipeline", exact=True)).to_be_visible()
    assert token not in page.content()
    page.screenshot(path=SHOTS / "keys.png", full_page=True)


def test_viewer_cannot_see_the_create_key_form(page, live_server, transactional_db):
    expect = playwright_api.expect
    workspace = Workspace.objects.create(name="acme-ml")
    user = User.objects.create_user(username="viewer@acme.test", email="viewer@acme.test", password=PASSWORD)
    Membership.objects.create(user=user, workspace=workspace, role=Role.VIEWER)
    sign_in(page, live_server.url, "viewer@acme.test")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys")).to_have_count(0)
    page.goto(f"{live_server.url}/keys/")
    expect(page.get_by_role("heading", name="You can’t do this here")).to_be_visible()
    expect(page.get_by_label("Key name")).to_have_count(0)
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    page.screenshot(path=SHOTS / "keys-viewer-forbidden.png")


def test_phone_layout_stacks_offers_as_cards_and_charts_render(browser, live_server, eu_catalogue):
    expect = playwright_api.expect
    workspace = Workspace.objects.create(name="mobile-team")
    user = User.objects.create_user(username="m@acme.test", email="m@acme.test", password=PASSWORD)
    Membership.objects.create(user=user, workspace=workspace, role=Role.MEMBER)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    sign_in(phone, live_server.url, "m@acme.test")
    first_row = phone.locator("#offer-results tbody tr").first
    assert first_row.evaluate("tr => getComputedStyle(tr).display") == "block"
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.screenshot(path=SHOTS / "offers-phone.png", full_page=True)

    phone.goto(f"{live_server.url}/offers/compare/?gpu=H100")
    expect(phone.locator("svg.chart")).to_have_count(3)  # by partner, by jurisdiction, every GPU model
    phone.screenshot(path=SHOTS / "compare-phone.png", full_page=True)
    context.close()


def test_compare_and_offer_pages_show_charts(page, live_server, eu_catalogue):
    expect = playwright_api.expect
    workspace = Workspace.objects.create(name="charts")
    user = User.objects.create_user(username="c@acme.test", email="c@acme.test", password=PASSWORD)
    Membership.objects.create(user=user, workspace=workspace, role=Role.VIEWER)
    sign_in(page, live_server.url, "c@acme.test")
    page.goto(f"{live_server.url}/offers/compare/?gpu=H100")
    expect(page.get_by_role("img", name="H100 price per GPU-hour by partner")).to_be_visible()
    page.screenshot(path=SHOTS / "compare.png", full_page=True)
    page.goto(f"{live_server.url}/offers/")
    page.get_by_role("link", name="h100x8").click()
    expect(page.get_by_role("heading", name="Price history")).to_be_visible()
    expect(page.locator("svg.chart")).to_be_visible()
    page.screenshot(path=SHOTS / "offer-detail.png", full_page=True)


def test_keyboard_users_can_skip_to_content_with_visible_focus(page, live_server, transactional_db):
    workspace = Workspace.objects.create(name="keyboard")
    user = User.objects.create_user(username="k@acme.test", email="k@acme.test", password=PASSWORD)
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    sign_in(page, live_server.url, "k@acme.test")
    page.goto(f"{live_server.url}/offers/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to main content"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
