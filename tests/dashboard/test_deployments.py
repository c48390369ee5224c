"""Deployments: list, new (form errors name the field), page with snippets, try it, delete."""

import pytest

from nim_launcher.gateway import routing, stats
from nim_launcher.models import Deployment, DeploymentState
from nim_launcher.profiles import TINY_CHAT_MODEL, TINY_EMBED_MODEL
from nim_launcher.runtime import RuntimeApp
from tests.nim_launcher.conftest import serve

from .rows import make_deployment

HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def runtime_url():
    with serve(RuntimeApp([TINY_CHAT_MODEL, TINY_EMBED_MODEL])) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh_routes():
    routing.clear_cache()
    stats.reset()
    yield
    routing.clear_cache()


def new(**extra) -> dict:
    return {"model": TINY_CHAT_MODEL, "name": "chat", "replicas_min": "1", "replicas_max": "2", "max_hours": "4",
            "jurisdictions": ["EU"], **extra}


def test_new_form_offers_every_model_with_labels(teammate, catalogue):
    html = teammate.client.get("/deployments/new/").content.decode()
    assert f'<option value="{TINY_CHAT_MODEL}" selected>' in html and "meta/llama-3.1-8b-instruct" in html
    for label in ("Model", "Name", "Replicas at least", "Replicas at most", "GPU", "Max hours per replica"):
        assert f">{label}</label>" in html


def test_creating_a_deployment_opens_its_page(teammate, catalogue):
    response = teammate.client.post("/deployments/new/", new())
    deployment = Deployment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/deployments/{deployment.pk}/"
    assert (deployment.name, deployment.replicas_min, deployment.replicas_max) == ("chat", 1, 2)
    assert deployment.request["policy"]["jurisdictions"] == ["EU"]


def test_form_errors_name_the_field(teammate, catalogue):
    response = teammate.client.post("/deployments/new/", new(name="Not a slug!", replicas_min="3", replicas_max="2",
                                                             countries="ZZ"))
    html = response.content.decode()
    assert response.status_code == 400
    assert '<a href="#id_name">Name</a>' in html
    assert '<a href="#id_replicas_max">Replicas at most</a>: must be at least min' in html
    assert '<a href="#id_countries">Countries</a>: unknown country code' in html


def test_a_live_name_cannot_be_reused(teammate, catalogue):
    make_deployment(teammate.workspace, "chat", offer=catalogue["h100_par_1x"])
    response = teammate.client.post("/deployments/new/", new())
    assert response.status_code == 409 and "already exists" in response.content.decode()


def test_no_placement_shows_the_rule_to_relax(teammate, catalogue):
    response = teammate.client.post("/deployments/new/", new(countries="JP"))
    assert response.status_code == 409 and "relax this" in response.content.decode()


def test_list_shows_state_ready_replicas_and_cost(owner, catalogue):
    make_deployment(owner.workspace, "chat", endpoint="http://127.0.0.1:9", offer=catalogue["h100_par_1x"])
    html = owner.client.get("/deployments/").content.decode()
    assert '<span class="badge state state-ready">ready</span>' in html and "1 of 1" in html and "$3.50" in html


def test_page_shows_endpoint_and_copyable_snippets(owner, catalogue, settings):
    settings.PUBLIC_BASE_URL = "https://broker.example"
    deployment = make_deployment(owner.workspace, "chat", offer=catalogue["h100_par_1x"])
    html = owner.client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert '<code id="endpoint-url">https://broker.example/v1</code>' in html
    assert "curl https://broker.example/v1/chat/completions" in html
    assert 'OpenAI(base_url="https://broker.example/v1", api_key=os.environ["GPUB_API_KEY"])' in html
    assert 'model="chat"' in html and '{"model": "chat", "messages"' in html


def test_live_partial_polls_only_while_settling(owner, catalogue):
    deployment = make_deployment(owner.workspace, "chat", state=DeploymentState.STARTING, offer=catalogue["h100_par_1x"])
    assert 'hx-trigger="every 2s"' in owner.client.get(f"/deployments/{deployment.pk}/", headers=HTMX).content.decode()
    Deployment.objects.filter(pk=deployment.pk).update(state=DeploymentState.READY)
    assert "hx-trigger" not in owner.client.get(f"/deployments/{deployment.pk}/", headers=HTMX).content.decode()


def test_try_it_answers_through_a_ready_replica(teammate, catalogue, runtime_url):
    deployment = make_deployment(teammate.workspace, "chat", endpoint=runtime_url, offer=catalogue["h100_par_1x"])
    response = teammate.client.post(f"/deployments/{deployment.pk}/try/", {"prompt": "Hello GPU", "max_tokens": "8"},
                                    headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200, html
    assert '<blockquote id="try-answer">' in html and "tokens" in html
    assert stats.deployment_stats(deployment.pk)["requests_total"] == 1  # counted like gateway traffic


def test_try_it_without_a_ready_replica_says_why(teammate, catalogue):
    deployment = make_deployment(teammate.workspace, "chat", state=DeploymentState.STARTING,
                                 offer=catalogue["h100_par_1x"])
    response = teammate.client.post(f"/deployments/{deployment.pk}/try/", {"prompt": "Hi", "max_tokens": "8"},
                                    headers=HTMX)
    assert response.status_code == 502 and "has no ready replica" in response.content.decode()


def test_try_it_validates_the_prompt(teammate, catalogue):
    deployment = make_deployment(teammate.workspace, "chat", offer=catalogue["h100_par_1x"])
    response = teammate.client.post(f"/deployments/{deployment.pk}/try/", {"prompt": "", "max_tokens": "0"},
                                    headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 400 and "Prompt: This field is required." in html and "Max tokens" in html


def test_delete_asks_then_tears_down(teammate, catalogue):
    deployment = make_deployment(teammate.workspace, "chat", offer=catalogue["h100_par_1x"])
    assert "Delete deployment" in teammate.client.get(f"/deployments/{deployment.pk}/delete/").content.decode()
    response = teammate.client.post(f"/deployments/{deployment.pk}/delete/")
    deployment.refresh_from_db()
    assert response.status_code == 302 and deployment.state == DeploymentState.TERMINATING


@pytest.mark.parametrize("suffix", ["try/", "delete/"])
def test_viewer_cannot_try_or_delete(viewer, catalogue, suffix):
    deployment = make_deployment(viewer.workspace, "chat", offer=catalogue["h100_par_1x"])
    assert viewer.client.post(f"/deployments/{deployment.pk}/{suffix}", {"prompt": "x"}).status_code == 403
    html = viewer.client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Delete…" not in html and "Try it" not in html
    assert viewer.client.post("/deployments/new/", new(name="other")).status_code == 403
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.READY


def test_other_workspaces_deployments_are_invisible(owner, stranger, catalogue):
    deployment = make_deployment(stranger.workspace, "secret", offer=catalogue["h100_par_1x"])
    for suffix in ("", "delete/"):
        assert owner.client.get(f"/deployments/{deployment.pk}/{suffix}").status_code == 404
    assert owner.client.post(f"/deployments/{deployment.pk}/try/", {"prompt": "x", "max_tokens": "1"}).status_code == 404
    assert "secret" not in owner.client.get("/deployments/").content.decode()


def test_on_demand_fallback_without_spot_is_refused_on_its_field(teammate, catalogue):
    response = teammate.client.post("/deployments/new/", new(spot_fallback="on"))
    assert response.status_code == 400
    assert '<a href="#id_spot_fallback">Fall back to on-demand</a>: only applies with' in response.content.decode()
