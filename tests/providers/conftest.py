"""Harnesses that put every adapter kind behind one interface for the contract suite.

aws runs against moto's server mode over real HTTP; lambda, partner_api, shadeform, vast, verda, hyperstack, gcp,
lium, jarvislabs, mithril, yotta, hyperbolic and seeweb against the partner simulator, nebius against its gRPC API; local against this machine.
Failures moto cannot produce (capacity, quota, 5xx) are injected as raw HTTP responses through botocore's
`before-send` hook, so they travel through botocore's parser, its retry handler and the adapter's own error mapping.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import moto.settings
import pytest
import requests
from botocore.awsrequest import AWSResponse
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from moto.server import ThreadedMotoServer

from providers.aws import AwsAdapter
from providers.base import ProviderAdapter, ProvisionSpec
from providers.gcp import GcpAdapter
from providers.hyperbolic import HyperbolicAdapter
from providers.hyperstack import HyperstackAdapter
from providers.jarvislabs import JarvisLabsAdapter
from providers.lambda_cloud import LambdaCloudAdapter
from providers.lium import LiumAdapter
from providers.local import LocalAdapter
from providers.mithril import MithrilAdapter
from providers.nebius import NebiusAdapter
from providers.partner_api import PartnerApiAdapter
from providers.seeweb import SeewebAdapter
from providers.shadeform import ShadeformAdapter
from providers.simulator import Faults, SimulatorServer, seeweb_routes
from providers.simulator.gcp_routes import billing_url, service_account_key
from providers.simulator.ssh_server import account_private_key
from providers.vast import VastAdapter
from providers.verda import VerdaAdapter
from providers.yotta import YottaAdapter

from .lambda_contract import AnswerLog

SLUG = "acme"
SEED = {SLUG: [
    {"region": "eu-central-1", "instance_type": "gpu_8x_h100_sxm5", "gpu": "H100", "gpus_per_node": 8, "vcpus": 208,
     "memory_gb": 1800, "interconnect": "infiniband", "price_per_hour": 23.92, "spot_price_per_hour": None},
    {"region": "us-east-1", "instance_type": "gpu_1x_a10", "gpu": "A10", "gpus_per_node": 1, "vcpus": 30,
     "memory_gb": 200, "interconnect": "pcie", "price_per_hour": 0.75, "spot_price_per_hour": 0.4},
    {"region": "Texas, US", "instance_type": "1x-RTX_4090-16-65536", "gpu": "RTX4090", "gpus_per_node": 1,
     "vcpus": 16, "memory_gb": 64, "interconnect": "pcie", "price_per_hour": 0.42, "spot_price_per_hour": 0.21},
    {"region": "US", "instance_type": "RTX4090_1x", "gpu": "RTX4090", "gpus_per_node": 1, "vcpus": 12,
     "memory_gb": 63, "interconnect": "pcie", "price_per_hour": 0.35, "spot_price_per_hour": 0.2},
    {"region": "IN2", "instance_type": "1x_L4_28V_124G", "gpu": "L4", "gpus_per_node": 1, "vcpus": 28,
     "memory_gb": 124, "interconnect": "pcie", "price_per_hour": 0.44, "spot_price_per_hour": 0.22},
]}
# Shapes only one vendor's API can name, added to the simulator for that kind's harness.
VENDOR_SEED = {
    "hyperstack": [{"region": "CANADA-1", "instance_type": "n3-A100x1", "gpu": "A100-80GB", "gpus_per_node": 1,
                    "vcpus": 28, "memory_gb": 120, "interconnect": "pcie", "price_per_hour": 1.35,
                    "spot_price_per_hour": None}],
    "nebius": [{"region": "eu-north1", "instance_type": "gpu-h100-sxm_1gpu-16vcpu-200gb", "gpu": "H100",
                "gpus_per_node": 1, "vcpus": 16, "memory_gb": 200, "interconnect": "nvlink", "price_per_hour": 2.95,
                "spot_price_per_hour": 1.25}],
    "gcp": [{"region": "us-central1", "instance_type": "a2-highgpu-1g", "gpu": "A100", "gpus_per_node": 1, "vcpus": 12,
             "memory_gb": 85, "interconnect": "pcie", "price_per_hour": 3.67339, "spot_price_per_hour": 1.80385}],
    "hyperbolic": [{"region": "default", "instance_type": "1x-H100-75-722", "gpu": "H100", "gpus_per_node": 1,
                    "vcpus": 75, "memory_gb": 722, "interconnect": "pcie", "price_per_hour": 1.29,
                    "spot_price_per_hour": None}],
    "mithril": [{"region": "us-central2-a", "instance_type": "h100-80gb.sxm.8x", "gpu": "H100", "gpus_per_node": 8,
                 "vcpus": 168, "memory_gb": 1814, "interconnect": "infiniband", "price_per_hour": 8.0,
                 "spot_price_per_hour": 8.0}],
    "yotta": [{"region": "us-east-2", "instance_type": "1x14v119g_NVIDIA_GeForce_RTX_5090_32G_SECURE", "gpu": "RTX5090",
               "gpus_per_node": 1, "vcpus": 14, "memory_gb": 119, "interconnect": "pcie", "price_per_hour": 0.65,
               "spot_price_per_hour": None}],
    "seeweb": [{"region": "it-fr2", "instance_type": "ECS1GPU10", "gpu": "H200", "gpus_per_node": 1, "vcpus": 32,
                "memory_gb": 256, "interconnect": "pcie", "price_per_hour": 2.6, "spot_price_per_hour": None}],
}
AMI_NAME = "ubuntu-22.04-test-image"


def ssh_public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def ssh_private_key() -> str:
    """A fresh ed25519 private key in OpenSSH format (the partner account's login key)."""
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


@dataclass
class Harness:
    kind: str
    adapter: ProviderAdapter
    make_spec: Callable[[str], ProvisionSpec]
    invalid_spec: ProvisionSpec
    unknown_ref: str
    arrange_no_capacity: Callable[[], None]
    wrong_key_adapter: Callable[[], ProviderAdapter] | None = None
    arrange_quota: Callable[[], None] | None = None
    fail_next: Callable[[int], None] | None = None
    # A spot launch and how to ask the partner itself whether the node is spot (None: sells no spot).
    spot_spec: ProvisionSpec | None = None
    partner_says_spot: Callable[[str], bool] | None = None
    # The partner's own record of a node's open inbound ports, as (port, source network) (None: not checked here).
    partner_ports: Callable[[str], list[tuple[int, str]]] | None = None
    unreachable_adapter: Callable[[], ProviderAdapter | None] = lambda: None
    sells_offers: bool = True
    forgets_terminated: bool = False  # describing a terminated node answers not_found (Vast)
    spot_only: bool = False  # sells spot only (Mithril): its launches are spot, an on-demand one is refused
    notes: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Without its ~1,300 bundled AMIs moto builds a region in milliseconds instead of seconds;
    # tests register the images they need (moto_ami).
    previous = os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS")
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    if previous is None:
        os.environ.pop("MOTO_EC2_LOAD_DEFAULT_AMIS", None)
    else:
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = previous


def register_ami(moto_url: str, name: str = AMI_NAME, region: str = "us-east-1") -> str:
    ec2 = AwsAdapter(credentials={"aws_access_key_id": "AKIAEXAMPLEBROKER", "aws_secret_access_key": "secret"},
                     endpoint_url=moto_url, regions=[region]).client(region)
    return ec2.register_image(Name=name, RootDeviceName="/dev/sda1")["ImageId"]


@pytest.fixture
def moto_ami(moto_url: str) -> str:
    """A fresh moto (reset) with one registered image, whose id is returned."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=5)
    return register_ami(moto_url)


# Lambda's documented limits: about one request per second, one launch per 12 s.
LAMBDA_RATE_LIMITS = Faults(request_interval_s=1.0, launch_interval_s=12.0)


class VirtualClock:
    """Time for the simulator and the adapters' backoff: sleeping advances it, nothing waits."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def simulator(clock: VirtualClock) -> Iterator[SimulatorServer]:
    """The simulator with Lambda's rate limits on, on virtual time; every Lambda answer is checked
    against Lambda's published OpenAPI document when the test ends."""
    server = SimulatorServer(SEED, capacity=2, random_seed=7, faults=LAMBDA_RATE_LIMITS, clock=clock).start()
    log = AnswerLog()
    log.attach(server.app)
    server.answers = log
    yield server
    server.stop()
    assert log.problems == [], f"{log.failing} of {len(log.answers)} Lambda answers violate the document"


def _ec2_error(code: str, status: int = 400) -> AWSResponse:
    body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{code} (injected)</Message></Error></Errors>"
            f"<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>").encode()
    return _ec2_answer(body, status)


def _ec2_answer(body: bytes, status: int) -> AWSResponse:
    class _Raw:
        def stream(self, **_):
            yield body

    return AWSResponse("https://ec2.invalid/", status, {"Content-Type": "text/xml"}, _Raw())


def inject_ec2(adapter: AwsAdapter, operation: str, code: str, *, status: int = 400, times: int = 10**6,
               region: str = "us-east-1") -> list:
    """Answer the next `times` calls of `operation` with an EC2 error; returns the list of hits."""
    hits: list[str] = []

    def handler(**_):
        if len(hits) < times:
            hits.append(code)
            return _ec2_error(code, status)
        return None

    adapter.client(region).meta.events.register(f"before-send.ec2.{operation}", handler)
    return hits


def inject_no_instances(adapter: AwsAdapter, *, times: int = 1, region: str = "us-east-1") -> list:
    """Answer the next `times` DescribeInstances with an empty reservation set (not yet visible)."""
    hits: list[str] = []
    body = (b'<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            b"<requestId>00000000-0000-0000-0000-000000000000</requestId><reservationSet/>"
            b"</DescribeInstancesResponse>")

    def handler(**_):
        if len(hits) < times:
            hits.append("empty")
            return _ec2_answer(body, 200)
        return None

    adapter.client(region).meta.events.register("before-send.ec2.DescribeInstances", handler)
    return hits


def aws_harness(moto_url: str, ami: str, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(moto.settings, "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", True)
    creds = {"aws_access_key_id": "AKIAEXAMPLEBROKER", "aws_secret_access_key": "secret"}
    adapter = AwsAdapter(credentials=creds, endpoint_url=moto_url, regions=["us-east-1"], ami=ami, max_attempts=3,
                         sleep=lambda _s: None)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0)
    key = ssh_public_key()

    def wrong_key() -> AwsAdapter:
        # Moto enforces credentials after the next N calls once told so; a finalizer switches it back off.
        requests.post(f"{moto_url}/moto-api/reset-auth", data=b"0", timeout=5)
        return AwsAdapter(credentials={"aws_access_key_id": "AKIAWRONGKEY", "aws_secret_access_key": "nope"},
                          endpoint_url=moto_url, regions=["us-east-1"], ami_name=AMI_NAME, max_attempts=1,
                          sleep=lambda _s: None)

    return Harness(
        kind="aws", adapter=adapter,
        make_spec=lambda k: ProvisionSpec(k, "rental-1", "p5.48xlarge", "us-east-1", "#!/bin/bash\necho ok", key,
                                          {"team": "ml"}),
        invalid_spec=ProvisionSpec("bad", "rental-1", "p9.bogus", "us-east-1"),
        unknown_ref="us-east-1/i-0123456789abcdef0",
        arrange_no_capacity=lambda: inject_ec2(adapter, "RunInstances", "InsufficientInstanceCapacity"),
        wrong_key_adapter=wrong_key,
        arrange_quota=lambda: inject_ec2(adapter, "RunInstances", "VcpuLimitExceeded"),
        fail_next=lambda n: inject_ec2(adapter, "DescribeInstances", "InternalError", status=503, times=n),
        spot_spec=ProvisionSpec("spot-1", "rental-1", "p5.48xlarge", "us-east-1", "echo ok", key, spot=True),
        partner_says_spot=lambda ref: adapter.client("us-east-1").describe_instances(
            InstanceIds=[ref.split("/")[1]])["Reservations"][0]["Instances"][0].get("InstanceLifecycle") == "spot",
        unreachable_adapter=lambda: AwsAdapter(credentials=creds, endpoint_url=f"http://127.0.0.1:{closed_port()}",
                                               regions=["us-east-1"], ami=ami, max_attempts=1, timeout=2),
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sim_common(server: SimulatorServer, kind: str, adapter_factory: Callable[[str], ProviderAdapter],
                unreachable: Callable[[], ProviderAdapter],
                shape: tuple[str, str] = ("gpu_8x_h100_sxm5", "eu-central-1"),
                spot_shape: tuple[str, str] = ("gpu_1x_a10", "us-east-1"), unknown_ref: str = "0" * 32,
                partner_says_spot: Callable[[str], bool] | None = None, spot_only: bool = False,
                **options) -> Harness:
    def control(**changes) -> None:
        requests.post(f"{server.url}/_control/{SLUG}", json=changes, timeout=5).raise_for_status()

    key = ssh_public_key()
    return Harness(
        kind=kind, adapter=adapter_factory(f"sim-{SLUG}"),
        make_spec=lambda k: ProvisionSpec(k, "rental-1", *shape, "echo ok", key, {"team": "ml"}, spot=spot_only),
        invalid_spec=ProvisionSpec("bad", "rental-1", "no-such-type", shape[1], "", key, spot=spot_only),
        spot_only=spot_only,
        unknown_ref=unknown_ref,
        arrange_no_capacity=lambda: control(capacity=0),
        wrong_key_adapter=lambda: adapter_factory("wrong-key"),
        arrange_quota=lambda: control(quota_nodes=0),
        fail_next=lambda n: control(error_next=n),
        spot_spec=ProvisionSpec("spot-1", "rental-1", *spot_shape, "echo ok", key, spot=True),
        partner_says_spot=partner_says_spot,
        unreachable_adapter=unreachable,
        **options,
    )


def _node_spot(server: SimulatorServer) -> Callable[[str], bool]:
    return lambda ref: server.store.get_node(SLUG, ref)["spot"]


def _gcp_spot(server: SimulatorServer) -> Callable[[str], bool]:
    """The partner's own record of a Spot VM (the provisioning model its insert asked for), by instance name."""
    return lambda ref: next(n for n in server.store.list_nodes(SLUG) if n["name"] == ref.split("/")[1])["spot"]


def _nebius_spot(server: SimulatorServer) -> Callable[[str], bool]:
    """The partner's own record of a preemptible instance (the create request's `spec.preemptible`)."""
    return lambda ref: server.store.get_node(SLUG, ref.removeprefix("computeinstance-"))["spot"]


def _nebius_ports(server: SimulatorServer) -> Callable[[str], list[tuple[int, str]]]:
    """What the instance's security groups open, as the simulated VPC applies them to its network interface."""
    def ports(ref: str) -> list[tuple[int, str]]:
        node = server.store.get_node(SLUG, ref.removeprefix("computeinstance-"))
        return [(p["port"], p["source"]) for p in node["ports"]]

    return ports


def _vast_bid(server: SimulatorServer) -> Callable[[str], bool]:
    """Vast's own record of an interruptible instance: the bid it was created with."""
    from providers.simulator.vast_routes import BID_TAG, vast_id

    def says(ref: str) -> bool:
        node = next(n for n in server.store.list_nodes(SLUG) if str(vast_id(n["id"])) == ref)
        return BID_TAG in node["tags"]

    return says


def _jarvislabs_spot(server: SimulatorServer) -> Callable[[str], bool]:
    """JarvisLabs' own record of a spot instance, found by its machine id."""
    from providers.simulator.jarvislabs_routes import machine_id

    return lambda ref: next(n for n in server.store.list_nodes(SLUG) if str(machine_id(n["id"])) == ref)["spot"]


def _mithril_spot(server: SimulatorServer) -> Callable[[str], bool]:
    """Mithril's own record of a bid: the simulator node behind `bid_<id>`."""
    return lambda ref: server.store.get_node(SLUG, ref.removeprefix("bid_"))["spot"]


# Per kind: the adapter class, the simulator URL of its API shape and its credentials for a token.
SIM_ADAPTERS: dict[str, tuple[type, str, Callable[[str, str], dict]]] = {
    "lambda": (LambdaCloudAdapter, "lambda_url", lambda token, url: {"api_key": token}),
    "partner_api": (PartnerApiAdapter, "partner_api_url", lambda token, url: {"api_key": token}),
    "shadeform": (ShadeformAdapter, "shadeform_url", lambda token, url: {"api_key": token}),
    "vast": (VastAdapter, "vast_url", lambda token, url: {"api_key": token}),
    "verda": (VerdaAdapter, "verda_url", lambda token, url: {"client_id": "broker", "client_secret": token}),
    "hyperstack": (HyperstackAdapter, "hyperstack_url", lambda token, url: {"api_key": token}),
    "gcp": (GcpAdapter, "gcp_url", lambda token, url: {"service_account_key": service_account_key(token, url)}),
    "lium": (LiumAdapter, "lium_url", lambda token, url: {"api_key": token}),
    "jarvislabs": (JarvisLabsAdapter, "jarvislabs_url", lambda token, url: {"api_key": token}),
    "mithril": (MithrilAdapter, "mithril_url", lambda token, url: {"api_key": token}),
    "nebius": (NebiusAdapter, "nebius_url", lambda token, url: {"iam_token": token, "tenant_id": f"tenant-{SLUG}"}),
    "yotta": (YottaAdapter, "yotta_url", lambda token, url: {"api_key": token, "org_id": f"org-{SLUG}"}),
    "hyperbolic": (HyperbolicAdapter, "hyperbolic_url",
                   lambda token, url: {"api_key": token, "ssh_private_key": account_private_key(SLUG)}),
    "seeweb": (SeewebAdapter, "seeweb_url",
               lambda token, url: {"api_key": token, "ssh_private_key": account_private_key(SLUG)}),
}
# Per kind: adapter options that follow from its API's URL (a second endpoint beside it).
SIM_URL_OPTIONS: dict[str, Callable[[str], dict]] = {"gcp": lambda url: {"billing_url": billing_url(url)},
                                                     "seeweb": lambda url: {"ssh_port": seeweb_routes.SSH_PORT}}
# Per kind: the shape it launches, how the partner itself records a spot node (absent: sells no spot).
SIM_OPTIONS: dict[str, Callable[[SimulatorServer], dict]] = {
    "lambda": lambda server: {},
    "shadeform": lambda server: {},
    "partner_api": lambda server: {"partner_says_spot": _node_spot(server)},
    "verda": lambda server: {"partner_says_spot": _node_spot(server)},
    "vast": lambda server: {"shape": ("1x-RTX_4090-16-65536", "Texas, US"),
                            "spot_shape": ("1x-RTX_4090-16-65536", "Texas, US"), "unknown_ref": "999999",
                            "forgets_terminated": True, "partner_says_spot": _vast_bid(server)},
    "hyperstack": lambda server: {"shape": ("n3-A100x1", "CANADA-1"), "unknown_ref": "999999",
                                  "forgets_terminated": True},
    "gcp": lambda server: {"shape": ("a2-highgpu-1g", "us-central1"), "spot_shape": ("a2-highgpu-1g", "us-central1"),
                           "unknown_ref": "us-central1-a/gpub-000000000000", "forgets_terminated": True,
                           "partner_says_spot": _gcp_spot(server)},
    "lium": lambda server: {"shape": ("RTX4090_1x", "US"), "spot_shape": ("RTX4090_1x", "US"),
                            "forgets_terminated": True, "partner_says_spot": _node_spot(server)},
    "jarvislabs": lambda server: {"shape": ("1x_L4_28V_124G", "IN2"), "spot_shape": ("1x_L4_28V_124G", "IN2"),
                                  "unknown_ref": "999999", "forgets_terminated": True,
                                  "partner_says_spot": _jarvislabs_spot(server)},
    "mithril": lambda server: {"shape": ("h100-80gb.sxm.8x", "us-central2-a"),
                               "spot_shape": ("h100-80gb.sxm.8x", "us-central2-a"), "unknown_ref": "bid_0000000000",
                               "spot_only": True, "partner_says_spot": _mithril_spot(server)},
    "hyperbolic": lambda server: {"shape": ("1x-H100-75-722", "default"), "spot_shape": ("1x-H100-75-722", "default"),
                                  "unknown_ref": "no-such-instance-00", "forgets_terminated": True},
    "nebius": lambda server: {"shape": ("gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1"),
                              "spot_shape": ("gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1"),
                              "unknown_ref": "computeinstance-" + "0" * 32, "forgets_terminated": True,
                              "partner_says_spot": _nebius_spot(server), "partner_ports": _nebius_ports(server)},
    "yotta": lambda server: {"shape": ("1x14v119g_NVIDIA_GeForce_RTX_5090_32G_SECURE", "us-east-2"),
                             "unknown_ref": "gpub-unknown-000000000000"},
    "seeweb": lambda server: {"shape": ("ECS1GPU10", "it-fr2"), "spot_shape": ("ECS1GPU10", "it-fr2"),
                              "unknown_ref": "ec299999", "forgets_terminated": True},
}


@pytest.fixture(params=["aws", "lambda", "partner_api", "shadeform", "vast", "verda", "hyperstack", "gcp", "lium",
                        "jarvislabs", "mithril", "nebius", "yotta", "hyperbolic", "seeweb",
                        "local"])
def harness(request, tmp_path, monkeypatch) -> Iterator[Harness]:
    kind = request.param
    if kind == "aws":
        yield aws_harness(request.getfixturevalue("moto_url"), request.getfixturevalue("moto_ami"), monkeypatch)
        requests.post(f"{request.getfixturevalue('moto_url')}/moto-api/reset-auth", data=b"inf", timeout=5)
        return
    if kind in SIM_ADAPTERS:
        server = request.getfixturevalue("simulator")
        if kind in VENDOR_SEED:
            server.store.seed({SLUG: VENDOR_SEED[kind]}, capacity=2)
        sleep = request.getfixturevalue("clock").sleep
        cls, url_of, credentials = SIM_ADAPTERS[kind]
        url = getattr(server, url_of)(SLUG)

        def build(base_url: str, token: str, *, retries: int) -> ProviderAdapter:
            options = SIM_URL_OPTIONS[kind](base_url) if kind in SIM_URL_OPTIONS else {}
            return cls(base_url=base_url, credentials=credentials(token, base_url), retries=retries, backoff=0,
                       **options)

        def factory(token: str) -> ProviderAdapter:
            adapter = build(url, token, retries=2)
            if isinstance(adapter, NebiusAdapter):  # gRPC through the SDK: the adapter's own retry sleeps
                adapter.sleep = sleep
            else:
                adapter.http.sleep = sleep
            return adapter

        def unreachable() -> ProviderAdapter:
            return build(f"http://127.0.0.1:{closed_port()}", "k", retries=0)

        yield _sim_common(server, kind, factory, unreachable, **SIM_OPTIONS[kind](server))
        return
    adapter = LocalAdapter(state_dir=tmp_path / "local-nodes")

    def occupy() -> None:
        adapter.provision(ProvisionSpec("occupant", "rental-0", "local", "local", "sleep 60"))

    yield Harness(
        kind="local", adapter=adapter,
        make_spec=lambda k: ProvisionSpec(k, "rental-1", "local", "local", "sleep 60", "", {"team": "ml"}),
        invalid_spec=ProvisionSpec("bad", "rental-1", "local", "local", user_data=""),
        unknown_ref="0" * 16, arrange_no_capacity=occupy, sells_offers=False,
        spot_spec=ProvisionSpec("spot-1", "rental-1", "local", "local", "sleep 60", spot=True),
    )
    for node in adapter.list_nodes():
        adapter.terminate(node.ref)


def eventually_status(url: str, attempts: int = 50) -> int | None:
    """The HTTP status `url` answers once something listens there (a booting node's plan); None if nothing does."""
    for _ in range(attempts):
        try:
            return requests.get(url, timeout=1).status_code
        except requests.ConnectionError:
            time.sleep(0.1)
    return None
