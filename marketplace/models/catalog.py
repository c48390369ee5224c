"""Partners, regions, GPU models, offers and their price history."""

from django.db import models
from django.db.models import F, Q

from marketplace.secrets import decrypt_json, encrypt_json

from .events import StateEvent


class PartnerKind(models.TextChoices):
    AWS = "aws"
    LAMBDA = "lambda"
    PARTNER_API = "partner_api"
    LOCAL = "local"
    SHADEFORM = "shadeform"
    VAST = "vast", "Vast.ai"
    VERDA = "verda", "Verda (DataCrunch)"
    HYPERSTACK = "hyperstack"
    GCP = "gcp", "Google Cloud (Compute Engine)"
    LIUM = "lium", "Lium"
    JARVISLABS = "jarvislabs", "JarvisLabs.ai"
    MITHRIL = "mithril", "Mithril (spot bids only)"
    NEBIUS = "nebius", "Nebius AI Cloud"
    YOTTA = "yotta", "Yotta Labs"
    HYPERBOLIC = "hyperbolic", "Hyperbolic (plan started over SSH)"
    SEEWEB = "seeweb", "Seeweb (plan started over SSH)"
    CATALOG = "catalog", "catalogue only (list prices, no live API)"
    FLEET = "fleet", "a workspace's own machines (private offers)"


class PartnerStatus(models.TextChoices):
    PENDING = "pending"
    VERIFIED = "verified"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Architecture(models.TextChoices):
    BLACKWELL = "blackwell"
    HOPPER = "hopper"
    ADA = "ada"
    AMPERE = "ampere"
    TURING = "turing"
    VOLTA = "volta"
    GAUDI = "gaudi"


class Interconnect(models.TextChoices):
    PCIE = "pcie"
    NVLINK = "nvlink"
    INFINIBAND = "infiniband"


class FormFactor(models.TextChoices):
    SXM = "sxm", "SXM board"
    PCIE = "pcie", "PCIe card"
    NVL = "nvl", "NVL (PCIe, NVLink-paired)"
    SUPERCHIP = "superchip", "Grace superchip"
    OAM = "oam", "OAM module"


# Prices keep the partner's own precision (AWS lists $27.44705/h); six places hold every catalogue's.
PRICE_DIGITS = {"max_digits": 16, "decimal_places": 6}

INTERCONNECT_RANK = {Interconnect.PCIE: 0, Interconnect.NVLINK: 1, Interconnect.INFINIBAND: 2}


class PriceStatus(models.TextChoices):
    OK = "ok"
    SUSPECT = "suspect"
    STALE = "stale"


class NodeLaunch(models.TextChoices):
    CLOUD_INIT = "cloud_init", "cloud-init user data (VM partners)"
    LOCAL_PROCESS = "local_process", "local process (local adapter, simulated partners)"


class Partner(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    kind = models.CharField(max_length=16, choices=PartnerKind.choices, default=PartnerKind.CATALOG)
    base_url = models.URLField(blank=True, default="")
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    hq_country = models.CharField(max_length=2, blank=True, default="")
    hq_jurisdiction = models.CharField(max_length=8, blank=True, default="")
    certifications = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=PartnerStatus.choices, default=PartnerStatus.PENDING)
    node_launch = models.CharField(max_length=16, choices=NodeLaunch.choices, default=NodeLaunch.CLOUD_INIT,
                                   help_text="how a launch plan reaches this partner's nodes")
    adapter_options = models.JSONField(default=dict, blank=True, help_text="non-secret adapter settings")
    reliability = models.FloatField(default=1.0, help_text="1.0 = no failures in the window")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    sync_error = models.TextField(blank=True, default="")
    verify_result = models.JSONField(default=dict, blank=True)
    sync_report = models.JSONField(default=dict, blank=True, help_text="the last requested sync: state, report")
    workspace = models.ForeignKey("marketplace.Workspace", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="private_partners",
                                  help_text="set = its offers are private to this workspace (never in the catalogue)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def credentials(self) -> dict:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = encrypt_json(value or {})


class PartnerEvent(StateEvent):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="events")


class Region(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="regions")
    code = models.CharField(max_length=128)
    display_name = models.CharField(max_length=128, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", help_text="empty = unspecified")
    jurisdiction = models.CharField(max_length=8, blank=True, default="")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "code"], name="region_unique_code")]
        ordering = ["partner_id", "code"]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.code}"


class GpuModel(models.Model):
    name = models.CharField(max_length=32, unique=True)
    memory_gb = models.PositiveIntegerField()
    architecture = models.CharField(max_length=16, choices=Architecture.choices)
    vendor = models.CharField(max_length=16, default="NVIDIA")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="offers")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="offers")
    gpu = models.ForeignKey(GpuModel, on_delete=models.PROTECT, related_name="offers")
    instance_type = models.CharField(max_length=128)
    gpus_per_node = models.PositiveSmallIntegerField()
    vcpus = models.FloatField(default=0)
    memory_gb = models.FloatField(default=0)
    interconnect = models.CharField(max_length=16, choices=Interconnect.choices, default=Interconnect.PCIE)
    form_factor = models.CharField(max_length=10, choices=FormFactor.choices, blank=True, default="",
                                   help_text="empty = not read from the catalogue yet")
    price_per_hour = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    spot_price_per_hour = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    price_per_gpu_hour = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    available_nodes = models.IntegerField(null=True, blank=True, help_text="null = unknown")
    capacity_read_at = models.DateTimeField(null=True, blank=True,
                                            help_text="when the partner reported the capacity the count is based on")
    price_status = models.CharField(max_length=8, choices=PriceStatus.choices, default=PriceStatus.OK)
    price_status_reason = models.CharField(max_length=200, blank=True, default="")
    # Denormalised from region/gpu so the hot filters hit one table and its indexes.
    country = models.CharField(max_length=2, blank=True, default="")
    jurisdiction = models.CharField(max_length=8, blank=True, default="")
    gpu_memory_gb = models.PositiveIntegerField(default=0, help_text="this offer's memory per GPU (H100 NVL: 94)")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "region", "instance_type"], name="offer_unique_shape"),
            models.CheckConstraint(condition=Q(available_nodes__isnull=True) | Q(available_nodes__gte=0),
                                   name="offer_capacity_never_negative"),
            models.CheckConstraint(condition=Q(gpus_per_node__gte=1), name="offer_has_gpus"),
        ]
        indexes = [
            models.Index(fields=["gpu", "price_per_gpu_hour"], name="offer_gpu_price"),
            models.Index(fields=["gpu", "jurisdiction", "price_per_gpu_hour"], name="offer_gpu_juris_price"),
            models.Index(fields=["jurisdiction", "price_per_gpu_hour"], name="offer_juris_price"),
            models.Index(fields=["country", "price_per_gpu_hour"], name="offer_country_price"),
            models.Index(fields=["price_per_gpu_hour", "id"], name="offer_price"),
            models.Index(fields=["partner", "price_per_gpu_hour"], name="offer_partner_price"),
        ]
        ordering = [F("price_per_gpu_hour").asc(nulls_last=True), "id"]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.instance_type}@{self.region_id}"


class PriceHistory(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="price_history")
    price_per_hour = models.DecimalField(**PRICE_DIGITS, null=True)
    spot_price_per_hour = models.DecimalField(**PRICE_DIGITS, null=True)
    recorded_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["offer_id", "recorded_at"]


class CatalogVersion(models.Model):
    """One row whose counter bumps on every catalogue change, so every process can refresh its index."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)
