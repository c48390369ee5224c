"""Dashboard personas (owner, teammate as member, viewer, stranger) with signed-in browsers, and catalogue rows."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from marketplace.catalog.gpus import CANONICAL_GPUS
from marketplace.models import GpuModel, Membership, Offer, Partner, PartnerStatus, Region, Role, Workspace
from marketplace.services.api_keys import workspace_ensure

PASSWORD = "correct-horse-battery-staple"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class DashboardPersona:
    def __init__(self, user: User, workspace: Workspace, role: str):
        self.user, self.workspace, self.role = user, workspace, role
        self.client = Client()
        self.client.force_login(user)


def make_user(email: str) -> User:
    return User.objects.create_user(username=email, email=email, password=PASSWORD)


def join(user: User, workspace: Workspace, role: str) -> DashboardPersona:
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return DashboardPersona(user, workspace, role)


@pytest.fixture
def team(db) -> Workspace:
    return Workspace.objects.create(name="acme-ml")


@pytest.fixture
def owner(team) -> DashboardPersona:
    return join(make_user("owner@acme.test"), team, Role.OWNER)


@pytest.fixture
def teammate(team) -> DashboardPersona:
    return join(make_user("teammate@acme.test"), team, Role.MEMBER)


@pytest.fixture
def viewer(team) -> DashboardPersona:
    return join(make_user("viewer@acme.test"), team, Role.VIEWER)


@pytest.fixture
def stranger(db) -> DashboardPersona:
    workspace, user = workspace_ensure(name="other-co", owner_email="someone@other.test")
    user.set_password(PASSWORD)
    user.save()
    return DashboardPersona(user, workspace, Role.OWNER)


def gpu(name: str) -> GpuModel:
    spec = CANONICAL_GPUS[name]
    return GpuModel.objects.get_or_create(name=name, defaults={
        "memory_gb": spec.memory_gb, "architecture": spec.architecture, "vendor": spec.vendor})[0]


def partner(slug: str, *, status: str = PartnerStatus.ACTIVE, name: str = "") -> Partner:
    return Partner.objects.get_or_create(slug=slug, defaults={"name": name or slug.title(), "status": status})[0]


def region(partner_: Partner, code: str, country: str, jurisdiction: str) -> Region:
    return Region.objects.get_or_create(partner=partner_, code=code, defaults={
        "country": country, "jurisdiction": jurisdiction})[0]


def offer(partner_: Partner, region_: Region, gpu_name: str, *, instance_type: str, gpus: int = 1,
          price: str | None = "2.00", spot: str | None = None, interconnect: str = "pcie", **extra) -> Offer:
    model = gpu(gpu_name)
    price_d = None if price is None else Decimal(price)
    return Offer.objects.create(
        partner=partner_, region=region_, gpu=model, instance_type=instance_type, gpus_per_node=gpus,
        vcpus=8 * gpus, memory_gb=64 * gpus, interconnect=interconnect, price_per_hour=price_d,
        spot_price_per_hour=None if spot is None else Decimal(spot),
        price_per_gpu_hour=None if price_d is None else (price_d / gpus).quantize(Decimal("0.0001")),
        country=region_.country, jurisdiction=region_.jurisdiction,
        **{"gpu_memory_gb": model.memory_gb, "form_factor": CANONICAL_GPUS[gpu_name].form_factors[0], **extra},
        updated_at=NOW)


@pytest.fixture
def catalogue(db) -> dict[str, Offer]:
    """A small mixed catalogue: EU/US, H100 by alias, spot, interconnects, one suspended partner."""
    nimbus, lambda_, hidden = partner("nimbus", name="Nimbus Cloud"), partner("lambda", name="Lambda"), \
        partner("shady", status=PartnerStatus.SUSPENDED)
    fra = region(nimbus, "eu-central-1", "DE", "EU")
    par = region(nimbus, "eu-west-3", "FR", "EU")
    tex = region(lambda_, "us-south-1", "US", "US")
    ams = region(hidden, "ams-1", "NL", "EU")
    return {
        "h100_fra_8x": offer(nimbus, fra, "H100", instance_type="h100x8", gpus=8, price="24.00", spot="12.00",
                             interconnect="infiniband", available_nodes=3),
        "h100_par_1x": offer(nimbus, par, "H100", instance_type="h100x1", price="3.50"),
        "h100_tex_8x": offer(lambda_, tex, "H100", instance_type="gpu_8x_h100_sxm5", gpus=8, price="20.00",
                             interconnect="nvlink"),
        "a100_tex_1x": offer(lambda_, tex, "A100-80GB", instance_type="gpu_1x_a100", price="1.29"),
        "l4_fra_1x": offer(nimbus, fra, "L4", instance_type="l4x1", price="0.80", spot="0.30"),
        "b200_tex_8x": offer(lambda_, tex, "B200", instance_type="gpu_8x_b200", gpus=8, price="40.00",
                             interconnect="infiniband"),
        "unpriced": offer(lambda_, tex, "L40S", instance_type="l40s_unpriced", price=None),
        "hidden_h100": offer(hidden, ams, "H100", instance_type="cheap_h100", price="0.50"),
    }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
