"""Fleet fixtures: a fleet, machines joined through the API, and an agent's poll done by hand."""

import pytest

from tests.marketplace.conftest import sim_catalog, simulator, worker  # noqa: F401  (shared fixtures)


class Agent:
    """What a machine's agent does over HTTP, driven by the test: join, then poll with reports."""

    def __init__(self, client, fleet_token: str, *, country="DE", region="", gpus=("NVIDIA H100 80GB HBM3",) * 2,
                 memory_gb=80, simulated=False, hostname="gpu-1"):
        body = {"token": fleet_token, "hostname": hostname, "country": country, "region": region,
                "ip": "10.0.0.7", "inventory": {"gpus": list(gpus), "gpu_memory_gb": memory_gb, "vcpus": 32,
                                                "memory_gb": 256, "simulated": simulated}}
        response = client.post("/api/v1/fleets/join", body, format="json")
        assert response.status_code == 201, response.content
        self.client, self.machine_id = client, response.json()["machine"]["id"]
        self.token = response.json()["machine_token"]

    def poll(self, *, health="healthy", works=(), reasons=()):
        response = self.client.post(f"/api/v1/fleet-machines/{self.machine_id}/poll?wait=0",
                                    {"health": health, "reasons": list(reasons), "works": list(works)},
                                    format="json", HTTP_AUTHORIZATION=f"Machine {self.token}")
        assert response.status_code == 200, response.content
        return response.json()

    def run_assigned(self) -> list[int]:
        """Pull what is assigned and report it running (the plan ran); returns the work ids."""
        started = [item["id"] for item in self.poll()["start"]]
        self.poll(works=[{"id": pk, "state": "running", "exit_code": 0} for pk in started])
        return started


@pytest.fixture
def fleet(owner):
    response = owner.client.post("/api/v1/fleets", {"name": "lab", "price_per_gpu_hour": "0.50"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def join(anon_client, fleet):
    def make(**kwargs) -> Agent:
        agent = Agent(anon_client, fleet["join_token"], **kwargs)
        agent.poll()  # the first poll: joining → ready
        return agent
    return make
