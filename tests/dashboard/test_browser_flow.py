"""The whole dashboard journey in real Chromium against live_server and the partner simulator.

Sign up → filter EU H100 offers → rent → watch the timeline reach `running` → deploy the tiny CPU
chat model → try it → terminate; and a viewer cannot rent.

The rental pipeline normally runs in a Celery worker. Here the test thread plays the worker
(`drive_rental`, `deployment_reconcile`) while the page polls, so the page really watches the
states change rather than finding them done. The simulator boots each deployment node's cloud-init plan
(`run_user_data=True`), so the NIM runtime really answers the "try it" prompt.
"""

import os
import re
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError

from marketplace.models import Membership, Rental, Role, Workspace
from nim_launcher.models import Deployment
from nim_launcher.services.deployments import deployment_reconcile
from tests.conftest import drive_rental

from .conftest import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def page(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        yield context.new_page()
        context.close()
        chromium.close()


def retry_locked(step, *args, attempts: int = 20):
    """SQLite in tests: the live server's poll may hold a table lock for a moment."""
    for attempt in range(attempts):
        try:
            return step(*args)
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def drive_deployment(deployment_id: int, *, until: str = "ready", timeout: float = 60.0) -> Deployment:
    """What the worker does for a deployment: reconcile, drive its replicas' rentals, until `until`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        retry_locked(deployment_reconcile, deployment_id)
        deployment = Deployment.objects.get(pk=deployment_id)
        for rental_id in deployment.replicas.values_list("rental_id", flat=True):
            retry_locked(drive_rental, rental_id)
        if deployment.state == until:
            return deployment
        time.sleep(0.3)
    raise AssertionError(f"deployment stuck in {Deployment.objects.get(pk=deployment_id).state}")


def test_sign_up_rent_watch_it_run_deploy_try_it_and_terminate(page, live_server, live_partners):
    expect = playwright_api.expect
    base = live_server.url
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Email").fill("ada@example.test")
    page.get_by_label("Workspace name").fill("ada-lab")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/offers/$"))

    # Filter EU H100 offers.
    page.get_by_label("GPU", exact=True).select_option("H100")
    page.get_by_label("Jurisdiction").select_option("EU")
    expect(page.locator("#offer-results tbody tr").first).to_contain_text("H100")
    expect(page.locator("#offer-results")).not_to_contain_text("CANADA")

    # Rent: the preview ranks placements and marks the rule to relax.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rent", exact=True).click()
    page.get_by_label("GPU", exact=True).select_option("H100")
    page.get_by_role("group", name="Jurisdictions").get_by_label("EU", exact=True).check()
    page.get_by_label("Max hours").fill("1")
    best = page.locator("#rent-preview tr.best")
    expect(best).to_contain_text("verda")
    expect(page.locator("#rent-preview")).to_contain_text("relax this")
    page.get_by_label("Countries").fill("XX")
    expect(page.locator("#id_countries_error")).to_contain_text("unknown country code")
    page.get_by_label("Countries").fill("")
    expect(page.locator("#id_countries_error")).to_be_empty()
    page.screenshot(path=SHOTS / "rent-preview.png", full_page=True)
    page.get_by_role("button", name="Rent the best placement").click()
    page.wait_for_url(re.compile(r"/rentals/\d+/$"))
    rental_id = int(re.search(r"/rentals/(\d+)/", page.url).group(1))
    expect(page.locator("#rental-state")).to_contain_text("pending")

    # Play the worker while the page polls: the timeline fills in and the state reaches running.
    assert retry_locked(drive_rental, rental_id).state == "running"
    expect(page.locator("#rental-state")).to_contain_text("running")
    timeline = page.locator("#rental-timeline")
    expect(timeline).to_contain_text("reserved 1× verda/")
    expect(timeline).to_contain_text("node(s) running at verda")
    expect(page.get_by_role("heading", name="Connect")).to_be_visible()
    page.screenshot(path=SHOTS / "rental-running.png", full_page=True)

    # Deploy the tiny CPU chat model and try it once it is ready.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deployments").click()
    page.get_by_role("link", name="New deployment").click()
    page.get_by_label("Model").select_option("gpu-broker/tiny-cpu-chat")
    page.get_by_label("Name").fill("chat")
    page.get_by_role("group", name="Jurisdictions").get_by_label("EU", exact=True).check()
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    deployment_id = int(re.search(r"/deployments/(\d+)/", page.url).group(1))
    drive_deployment(deployment_id)
    expect(page.locator("#deployment-state")).to_contain_text("ready", timeout=20_000)
    expect(page.locator("#curl-snippet")).to_contain_text('"model": "chat"')
    page.get_by_label("Prompt").fill("What is a GPU?")
    page.get_by_role("button", name="Send").click()
    answer = page.locator("#try-answer")
    expect(answer).to_be_visible(timeout=20_000)
    assert answer.inner_text().strip()
    page.screenshot(path=SHOTS / "deployment-try-it.png", full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Usage and cost")).to_be_visible()
    page.screenshot(path=SHOTS / "usage.png", full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Nodes").click()
    expect(page.locator("article.node")).to_have_count(2)
    page.screenshot(path=SHOTS / "nodes.png", full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rentals").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.screenshot(path=SHOTS / "rentals.png", full_page=True)

    # Terminate the first rental, with confirmation, and watch it end.
    page.goto(f"{base}/rentals/{rental_id}/")
    page.get_by_role("link", name="Terminate…").click()
    page.get_by_role("button", name="Terminate rental").click()
    page.wait_for_url(re.compile(rf"/rentals/{rental_id}/$"))
    expect(page.locator("#rental-state")).to_contain_text("terminating")
    assert retry_locked(drive_rental, rental_id).state == "terminated"
    expect(page.locator("#rental-state")).to_contain_text("terminated")
    expect(page.locator("#rental-live")).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(page.get_by_role("link", name="Terminate…")).to_have_count(0)
    page.screenshot(path=SHOTS / "rental-terminated.png", full_page=True)

    # Delete the deployment, so its node's runtime stops.
    page.goto(f"{base}/deployments/{deployment_id}/delete/")
    page.get_by_role("button", name="Delete deployment").click()
    expect(page.locator("#deployment-state")).to_contain_text("terminating")
    assert drive_deployment(deployment_id, until="terminated").state == "terminated"
    expect(page.locator("#deployment-state")).to_contain_text("terminated")
    assert Rental.objects.filter(state="running").count() == 0


def test_viewer_cannot_rent(page, live_server, live_partners):
    expect = playwright_api.expect
    workspace = Workspace.objects.create(name="acme-ml")
    user = User.objects.create_user(username="viewer@acme.test", email="viewer@acme.test", password=PASSWORD)
    Membership.objects.create(user=user, workspace=workspace, role=Role.VIEWER)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("viewer@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/offers/"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Rent", exact=True)).to_have_count(0)
    expect(nav.get_by_role("link", name="Rentals")).to_be_visible()
    page.goto(f"{live_server.url}/rent/")
    expect(page.get_by_role("heading", name="You can’t do this here")).to_be_visible()
    expect(page.get_by_role("button", name="Rent the best placement")).to_have_count(0)
    page.goto(f"{live_server.url}/deployments/")
    expect(page.get_by_role("link", name="New deployment")).to_have_count(0)
    page.screenshot(path=SHOTS / "rent-viewer-forbidden.png")
    assert not Rental.objects.exists()
