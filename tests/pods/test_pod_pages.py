"""The pod pages: the SSH command to copy, the Jupyter link, activity and cost; another workspace gets 404."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from marketplace.models import Node
from pods.models import Pod, PodState
from tests.marketplace.node_health_helpers import make_node


def _browser(persona) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def _running_pod(owner, key) -> tuple[Pod, Node]:
    node = make_node(owner.workspace)
    Node.objects.filter(pk=node.pk).update(ip="203.0.113.9")
    pod = Pod.objects.create(workspace=owner.workspace, name="notebook", state=PodState.RUNNING, rental=node.rental,
                             ssh_public_key=key, jupyter=True, running_since=timezone.now() - timedelta(minutes=3))
    return pod, node


def test_the_pod_page_shows_how_to_connect_and_the_list_links_it(owner, key_pair):
    pod, _ = _running_pod(owner, key_pair[0])
    browser = _browser(owner)
    page = browser.get(f"/pods/{pod.pk}/").content.decode()
    assert "ssh -p 22 ubuntu@203.0.113.9" in page and "http://203.0.113.9:8888/lab" in page
    assert "Idle stop at" in page and "Cost so far" in page
    listing = browser.get("/pods/").content.decode()
    assert f"/pods/{pod.pk}/" in listing


def test_another_workspace_gets_404(owner, stranger, key_pair):
    pod, _ = _running_pod(owner, key_pair[0])
    browser = _browser(stranger)
    assert browser.get(f"/pods/{pod.pk}/").status_code == 404
    assert browser.post(f"/pods/{pod.pk}/stop/").status_code == 404


def test_a_private_key_in_the_form_is_refused_on_its_field(owner, key_pair):
    answer = _browser(owner).post("/pods/new/", {"name": "x", "ssh_public_key": key_pair[1], "jupyter": "on",
                                                 "idle_timeout_minutes": "60", "max_hours": "2"})
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "this is a private key" in page and key_pair[1].splitlines()[1] not in page
    assert not Pod.objects.exists()


def test_stop_from_the_page(owner, key_pair):
    pod, _ = _running_pod(owner, key_pair[0])
    answer = _browser(owner).post(f"/pods/{pod.pk}/stop/")
    assert answer.status_code == 302
    assert Pod.objects.get(pk=pod.pk).state == PodState.STOPPING


def test_the_rentals_page_names_the_pod_a_rental_serves(owner, key_pair):
    pod, node = _running_pod(owner, key_pair[0])
    page = _browser(owner).get("/rentals/").content.decode()
    assert "pod notebook" in page
    rental = _browser(owner).get(f"/rentals/{node.rental_id}/").content.decode()
    assert f'href="/pods/{pod.pk}/"' in rental


def test_creating_from_the_dashboard_shows_the_jupyter_token_once(owner, key_pair, real_catalog):
    browser = _browser(owner)
    answer = browser.post("/pods/new/", {"name": "lab", "gpu": "H100", "ssh_public_key": key_pair[0],
                                         "jupyter": "on", "idle_timeout_minutes": "30", "max_hours": "2"})
    assert answer.status_code == 201, answer.content.decode()[-2000:]
    pod = Pod.objects.get(name="lab")
    token = answer.content.decode().split('id="jupyter-token" aria-labelledby="token-label">')[1].split("<")[0]
    assert token.startswith("gpbj_") and token not in pod.jupyter_token_hash
    assert pod.idle_timeout_minutes == 30 and pod.rental.ssh_public_key == key_pair[0]
    assert token not in browser.get(f"/pods/{pod.pk}/").content.decode()
