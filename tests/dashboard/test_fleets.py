"""Fleet pages: create a fleet (its join command shown once), see its machines, cordon / uncordon / drain."""

from decimal import Decimal

from fleets.models import Fleet, Machine
from fleets.services.fleets import Inventory, JoinRequest, fleet_create, fleet_join
from fleets.services.machines import machine_heard


def _machine(workspace, *, simulated=True) -> Machine:
    fleet, token = fleet_create(workspace=workspace, name="lab", price_per_gpu_hour=Decimal("0.5"))
    machine, _ = fleet_join(JoinRequest(token=token, hostname="gpu-1", country="DE", region="lab", ip="",
                                        inventory=Inventory(("H100", "H100"), 80, 32, 256.0, simulated)))
    return machine_heard(machine, health="healthy", reason="", works=[])


def test_creating_a_fleet_shows_its_join_command_once(owner):
    html = owner.client.post("/fleets/", {"name": "lab", "price_per_gpu_hour": "0.5"}).content.decode()
    assert "gpubroker-agent.pyz join --broker" in html and "--token gpbj_" in html
    again = owner.client.get("/fleets/").content.decode()
    assert "lab" in again and "gpbj_" not in again
    assert Fleet.objects.get().price_per_gpu_hour == Decimal("0.5")


def test_a_bad_name_is_shown_on_the_form(owner):
    response = owner.client.post("/fleets/", {"name": ""})
    assert response.status_code == 400 and "This field" in response.content.decode()


def test_the_fleet_page_lists_machines_marked_simulated_with_cordon_and_drain(owner):
    machine = _machine(owner.workspace)
    html = owner.client.get(f"/fleets/{machine.fleet_id}/").content.decode()
    assert "gpu-1" in html and "simulated" in html and "2× H100 80 GB" in html and "DE/lab" in html
    assert "Cordon" in html and "Drain" in html
    owner.client.post(f"/fleets/{machine.fleet_id}/machines/{machine.pk}/cordon")
    assert Machine.objects.get(pk=machine.pk).state == "cordoned"
    assert "Uncordon" in owner.client.get(f"/fleets/{machine.fleet_id}/").content.decode()
    owner.client.post(f"/fleets/{machine.fleet_id}/machines/{machine.pk}/drain")
    assert Machine.objects.get(pk=machine.pk).state == "removed"


def test_viewers_see_but_cannot_act_and_strangers_get_404(owner, viewer, stranger):
    machine = _machine(owner.workspace)
    html = viewer.client.get(f"/fleets/{machine.fleet_id}/").content.decode()
    assert "gpu-1" in html and "Cordon" not in html
    assert viewer.client.post(f"/fleets/{machine.fleet_id}/machines/{machine.pk}/cordon").status_code == 403
    assert viewer.client.post("/fleets/", {"name": "x"}).status_code == 403
    assert stranger.client.get(f"/fleets/{machine.fleet_id}/").status_code == 404
