"""Spot preemption in the simulator, in each API's own shape, and each adapter's reading of it."""

from datetime import UTC, datetime

import pytest
import requests

from providers import aws
from providers.base import ProvisionSpec
from providers.lambda_cloud import LambdaCloudAdapter
from providers.simulator import Faults, SimulatorServer
from providers.vast import VastAdapter
from providers.verda import VerdaAdapter

from .conftest import SEED, SLUG, ssh_public_key
from .test_simulator import partner

A10 = ("gpu_1x_a10", "us-east-1")  # sold on demand and as spot
VAST_SHAPE = ("1x-RTX_4090-16-65536", "Texas, US")


@pytest.fixture
def now():
    return [1_800_000_000.0]


@pytest.fixture
def sim(now):
    faults = Faults(preemption_rate=1.0, preemption_after_s=60, preemption_notice_s=20)
    server = SimulatorServer(SEED, capacity=4, faults=faults, clock=lambda: now[0]).start()
    yield server
    server.stop()


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def test_a_spot_node_is_noticed_then_preempted_on_schedule_and_an_on_demand_one_never(sim, now):
    adapter = partner(sim)
    spot = adapter.provision(ProvisionSpec("spot", "r-1", *A10, spot=True))
    on_demand = adapter.provision(ProvisionSpec("od", "r-2", *A10))
    assert adapter.describe(spot.ref).preempt_at is None  # no notice yet
    now[0] += 45
    noticed = adapter.describe(spot.ref)
    assert noticed.state == "running" and noticed.preempt_at == _iso(1_800_000_060.0)
    now[0] += 16
    assert sim.app.preempt_due() == 1
    preempted = adapter.describe(spot.ref)
    assert preempted.state == "preempted" and preempted.ended_at == _iso(now[0])
    assert [n.ref for n in adapter.list_nodes() if n.state == "running"] == [on_demand.ref]
    assert adapter.describe(on_demand.ref).preempt_at is None
    available = next(o.available_nodes for o in adapter.list_offers() if (o.instance_type, o.region) == A10)
    assert available == 3  # the preempted node's capacity came back


def test_the_control_call_preempts_at_once_and_refuses_an_unknown_node():
    sim = SimulatorServer(SEED, capacity=2).start()
    try:
        adapter = partner(sim)
        node = adapter.provision(ProvisionSpec("spot", "r-1", *A10, spot=True))
        assert requests.post(f"{sim.url}/_control/{SLUG}", json={"preempt": node.ref}, timeout=5).status_code == 200
        assert adapter.describe(node.ref).state == "preempted"
        assert requests.post(f"{sim.url}/_control/{SLUG}", json={"preempt": "nope"}, timeout=5).status_code == 404
        bad = requests.post(f"{sim.url}/_control/{SLUG}", json={"preemption_rate": 2}, timeout=5)
        assert bad.status_code == 400 and "preemption_rate" in bad.json()["error"]["message"]
    finally:
        sim.stop()


def test_lambda_vast_and_verda_report_a_preemption_their_own_way(sim, now):
    lam = LambdaCloudAdapter(base_url=sim.lambda_url(SLUG), credentials={"api_key": f"sim-{SLUG}"}, retries=0)
    vast = VastAdapter(base_url=sim.vast_url(SLUG), credentials={"api_key": f"sim-{SLUG}"}, retries=0)
    verda = VerdaAdapter(base_url=sim.verda_url(SLUG), credentials={"client_id": "b", "client_secret": f"sim-{SLUG}"},
                         retries=0)
    key = ssh_public_key()
    lambda_node = lam.provision(ProvisionSpec("l", "r-1", "gpu_8x_h100_sxm5", "eu-central-1", ssh_public_key=key))
    vast_node = vast.provision(ProvisionSpec("v", "r-2", *VAST_SHAPE, spot=True))
    verda_node = verda.provision(ProvisionSpec("d", "r-3", *A10, "echo hi", key, spot=True))
    requests.post(f"{sim.url}/_control/{SLUG}", json={"preempt": lambda_node.ref}, timeout=5)  # Lambda: no spot
    now[0] += 61
    sim.app.preempt_due()
    assert lam.describe(lambda_node.ref).state == "preempted"  # Lambda's status `preempted`
    assert vast.describe(vast_node.ref).state == "preempted"  # an outbid interruptible instance: exited
    raw = requests.get(f"{sim.vast_url(SLUG)}/instances/{vast_node.ref}/", timeout=5,
                       headers={"Authorization": f"Bearer sim-{SLUG}"}).json()["instances"]
    assert (raw["actual_status"], raw["intended_status"], raw["is_bid"]) == ("exited", "running", True)
    assert verda.describe(verda_node.ref).state == "preempted"  # a spot instance discontinued


def test_aws_reads_a_spot_interruption_from_the_instances_state_reason():
    def instance(state: str, code: str = "", lifecycle: str = "spot") -> dict:
        return {"InstanceId": "i-1", "State": {"Name": state}, "StateReason": {"Code": code},
                "InstanceLifecycle": lifecycle, "InstanceType": "p5.48xlarge"}

    assert aws._node("us-east-1", instance("terminated", aws.SPOT_INTERRUPTION)).state == "preempted"
    assert aws._node("us-east-1", instance("stopped", aws.SPOT_INTERRUPTION)).state == "preempted"
    assert aws._node("us-east-1", instance("terminated", "Client.UserInitiatedShutdown")).state == "terminated"
    assert aws._node("us-east-1", instance("running")).state == "running"


def test_nebius_reports_a_preempted_preemptible_instance_as_stopped_until_it_is_deleted(sim, now):
    from providers.nebius import NebiusAdapter

    from .conftest import VENDOR_SEED

    sim.store.seed({SLUG: VENDOR_SEED["nebius"]}, capacity=2)
    adapter = NebiusAdapter(base_url=sim.nebius_url(SLUG), retries=0,
                            credentials={"iam_token": f"sim-{SLUG}", "tenant_id": f"tenant-{SLUG}"})
    shape = ("gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1")
    spot = adapter.provision(ProvisionSpec("n-spot", "r-1", *shape, "echo ok", spot=True))
    on_demand = adapter.provision(ProvisionSpec("n-od", "r-2", *shape, "echo ok"))
    now[0] += 61
    assert sim.app.preempt_due() == 1
    preempted = adapter.describe(spot.ref)
    assert (preempted.state, preempted.spot, preempted.ended_at) == ("preempted", True, _iso(now[0]))
    assert adapter.describe(on_demand.ref).state == "running"
    adapter.terminate(spot.ref)
    adapter.terminate(spot.ref)
    assert [n.ref for n in adapter.list_nodes()] == [on_demand.ref]
