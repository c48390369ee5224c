"""`brokerctl fleet …` against a scripted loopback broker."""

from tests.cli.conftest import Reply

MACHINE = {"id": 3, "hostname": "gpu-1", "state": "ready", "gpu": "H100", "gpus": 2, "country": "DE",
           "region": "lab", "health": "healthy", "simulated": True}
FLEET = {"id": 7, "name": "lab", "price_per_gpu_hour": 0.5, "machines": [MACHINE]}


def test_fleet_create_sends_the_price_and_prints_the_join_command_once(stub, stub_cli):
    stub.on("POST", "/api/v1/fleets", Reply(201, {**FLEET, "machines": [], "join_token": "gpbj_7_secret"}))
    result = stub_cli("fleet", "create", "lab", "--price", "0.5")
    assert result.code == 0
    assert stub.calls("POST", "/api/v1/fleets")[0].body == {"name": "lab", "price_per_gpu_hour": 0.5}
    assert "gpubroker-agent join" in result.out and "--token gpbj_7_secret" in result.out


def test_fleet_show_lists_machines_with_simulated_marked(stub, stub_cli):
    stub.on("GET", "/api/v1/fleets", Reply(200, [FLEET]))
    result = stub_cli("fleet", "show", "lab")
    assert result.code == 0
    line = result.out.splitlines()[1]
    assert "gpu-1" in line and "2× H100" in line and "DE/lab" in line and "yes" in line


def test_fleet_cordon_and_drain_a_machine_by_hostname(stub, stub_cli):
    stub.on("GET", "/api/v1/fleets", Reply(200, [FLEET]), Reply(200, [FLEET]))
    stub.on("POST", "/api/v1/fleets/7/machines/3/cordon", Reply(200, {**MACHINE, "state": "cordoned"}))
    stub.on("POST", "/api/v1/fleets/7/machines/3/drain", Reply(200, {**MACHINE, "state": "draining"}))
    assert "cordoned" in stub_cli("fleet", "cordon", "lab", "gpu-1").out
    assert "draining" in stub_cli("fleet", "drain", "7", "3").out


def test_an_unknown_fleet_or_machine_is_a_usage_error(stub, stub_cli):
    stub.on("GET", "/api/v1/fleets", Reply(200, [FLEET]), Reply(200, [FLEET]))
    assert stub_cli("fleet", "show", "nope").code == 2
    assert stub_cli("fleet", "cordon", "lab", "gpu-9").code == 2


def test_rent_sends_the_capacity_mode(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(202, {"id": 1, "state": "pending", "nodes": [], "offer": None}))
    stub_cli("rent", "--gpu", "H100", "--capacity", "fleet_only", "--max-hours", "1")
    assert stub.calls("POST", "/api/v1/rentals")[0].body["capacity"] == "fleet_only"
