"""Matching engine: a placement request and an offer index → ranked placements and an explanation.

Pure library: no Django, no clock, no I/O (tests/marketplace/test_matching.py enforces it).

Speed without losing exact counts: the index groups offers by GPU model, then by GPUs per node, and
keeps each group's offers sorted by price with one bitmask per attribute value (a Python int whose
bit i stands for the i-th cheapest offer). A request settles the GPU and GPUs-per-node rules from group
sizes, the price cap by bisection, and every other rule with a few big-int AND/ORs, so it never visits
an offer one by one except the few it returns.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

OK = "ok"
INTERCONNECT_RANK = {"pcie": 0, "nvlink": 1, "infiniband": 2}
DEFAULT_LIMIT = 10
EARTH_RADIUS_KM = 6371.0088
# Where a request may be placed (DESIGN §13): the workspace's own machines first, only them, or only partners.
FLEET_FIRST, FLEET_ONLY, MARKETPLACE_ONLY = "fleet_first", "fleet_only", "marketplace_only"
CAPACITY_MODES = (FLEET_FIRST, FLEET_ONLY, MARKETPLACE_ONLY)

# Each excluded offer is counted under the first rule in this order that it fails.
RULES: tuple[str, ...] = (
    "gpu",                       # GPU model, minimum GPU memory, architecture
    "gpus_per_node",             # exact node size
    "spot",                      # spot requested, offer has no spot price
    "no_price",                  # on-demand requested, offer has no on-demand price
    "max_price",                 # price per GPU-hour (spot price for spot) above the cap
    "partner_active",            # partner not active (suspended, pending)
    "price_integrity",           # price suspect or stale and the request does not allow it
    "interconnect",              # below the requested minimum
    "partners",                  # not in policy.partners.allow, or in policy.partners.deny
    "partner_hq_jurisdictions",  # partner headquartered elsewhere
    "certifications",            # partner lacks a required certification
    "regions",                   # region code not allowed, or location unspecified
    "countries",                 # country not allowed or unspecified
    "jurisdictions",             # jurisdiction not allowed or unspecified
    "capacity",                  # known capacity below the requested nodes
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferSnapshot:
    """One sellable node shape, flattened with its partner and region for matching."""

    id: int
    partner: str
    gpu: str
    gpus_per_node: int
    price_per_hour: float | None
    partner_active: bool = True
    partner_reliability: float = 1.0
    partner_hq_jurisdiction: str = ""
    partner_certifications: frozenset[str] = frozenset()
    region: str = ""
    country: str = ""  # '' = unspecified location
    jurisdiction: str = ""
    latitude: float | None = None
    longitude: float | None = None
    instance_type: str = ""
    gpu_memory_gb: int = 0
    architecture: str = ""
    interconnect: str = "pcie"
    spot_price_per_hour: float | None = None
    available_nodes: int | None = None  # None = unknown
    price_status: str = OK
    price_status_reason: str = ""
    vcpus: float = 0.0
    memory_gb: float = 0.0
    updated_at: datetime | None = None

    @property
    def price_per_gpu_hour(self) -> float | None:
        return None if self.price_per_hour is None else self.price_per_hour / self.gpus_per_node


@dataclass(frozen=True, slots=True)
class Near:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Hard placement rules; an empty set means no restriction."""

    regions: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    jurisdictions: frozenset[str] = frozenset()
    partners_allow: frozenset[str] = frozenset()
    partners_deny: frozenset[str] = frozenset()
    partner_hq_jurisdictions: frozenset[str] = frozenset()
    certifications: frozenset[str] = frozenset()

    def to_dict(self) -> dict:
        return {
            "regions": sorted(self.regions), "countries": sorted(self.countries),
            "jurisdictions": sorted(self.jurisdictions),
            "partners": {"allow": sorted(self.partners_allow), "deny": sorted(self.partners_deny)},
            "partner_hq_jurisdictions": sorted(self.partner_hq_jurisdictions),
            "certifications": sorted(self.certifications),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacementRequest:
    """What to place and under which rules (DESIGN §2)."""

    gpu: str | None = None
    min_gpu_memory_gb: float | None = None
    architecture: str | None = None
    gpus_per_node: int = 1
    nodes: int = 1
    interconnect: str | None = None
    spot: bool = False
    spot_fallback: bool = False  # spot first; on-demand only when no spot placement is left (see marketplace.spot)
    max_price_per_gpu_hour: float | None = None
    policy: Policy = field(default_factory=Policy)
    near: Near | None = None
    allow_suspect_prices: bool = False
    capacity: str = FLEET_FIRST  # one of CAPACITY_MODES; the engine itself matches whatever index it is given

    def to_dict(self) -> dict:
        """The request in its JSON shape, e.g. to store with a rental."""
        return {
            "gpu": self.gpu, "min_gpu_memory_gb": self.min_gpu_memory_gb, "architecture": self.architecture,
            "gpus_per_node": self.gpus_per_node, "nodes": self.nodes, "interconnect": self.interconnect,
            "spot": self.spot, "spot_fallback": self.spot_fallback, "max_price_per_gpu_hour": self.max_price_per_gpu_hour,
            "policy": self.policy.to_dict(),
            "near": None if self.near is None else {"lat": self.near.lat, "lon": self.near.lon},
            "allow_suspect_prices": self.allow_suspect_prices, "capacity": self.capacity,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> PlacementRequest:
        """The inverse of `to_dict`, for a request that was validated when it was stored."""
        policy, near = data.get("policy") or {}, data.get("near")
        partners = policy.get("partners") or {}
        return cls(
            gpu=data.get("gpu"), min_gpu_memory_gb=data.get("min_gpu_memory_gb"),
            architecture=data.get("architecture"), gpus_per_node=data.get("gpus_per_node", 1),
            nodes=data.get("nodes", 1), interconnect=data.get("interconnect"), spot=data.get("spot", False),
            spot_fallback=data.get("spot_fallback", False),
            max_price_per_gpu_hour=data.get("max_price_per_gpu_hour"),
            policy=Policy(
                regions=frozenset(policy.get("regions", ())), countries=frozenset(policy.get("countries", ())),
                jurisdictions=frozenset(policy.get("jurisdictions", ())),
                partners_allow=frozenset(partners.get("allow", ())),
                partners_deny=frozenset(partners.get("deny", ())),
                partner_hq_jurisdictions=frozenset(policy.get("partner_hq_jurisdictions", ())),
                certifications=frozenset(policy.get("certifications", ()))),
            near=None if near is None else Near(near["lat"], near["lon"]),
            allow_suspect_prices=data.get("allow_suspect_prices", False),
            capacity=data.get("capacity", FLEET_FIRST),
        )


@dataclass(frozen=True, slots=True)
class Placement:
    offer: OfferSnapshot
    nodes: int
    spot: bool
    price_per_node_hour: float
    price_per_hour: float  # all nodes
    price_per_gpu_hour: float
    distance_km: float | None = None

    @property
    def offer_id(self) -> int:
        return self.offer.id


@dataclass(frozen=True, slots=True)
class Explanation:
    considered: int
    excluded: Mapping[str, int]  # every rule of RULES, in that order
    matched: int


@dataclass(frozen=True, slots=True)
class MatchResult:
    placements: tuple[Placement, ...]
    explanation: Explanation


def _bitmasks(values: Iterable) -> dict:
    """One bitmask per distinct value: bit i is set where the i-th value equals it."""
    arrays: dict = {}
    values = list(values)
    size = (len(values) >> 3) + 1
    for i, value in enumerate(values):
        array = arrays.get(value)
        if array is None:
            array = arrays[value] = bytearray(size)
        array[i >> 3] |= 1 << (i & 7)
    return {value: int.from_bytes(array, "little") for value, array in arrays.items()}


def _union(masks: Mapping, keys: Iterable) -> int:
    result = 0
    for key in keys:
        result |= masks.get(key, 0)
    return result


class _Bucket:
    """The offers of one GPU group and node size that carry the price a request pays, cheapest first."""

    def __init__(self, offers: list[OfferSnapshot], price_of: Callable[[OfferSnapshot], float]):
        offers.sort(key=lambda o: (price_of(o), o.id))
        self.offers = offers
        self.size = len(offers)
        self.all = (1 << self.size) - 1
        self.node_prices = [price_of(o) for o in offers]
        self.gpu_prices = [price_of(o) / o.gpus_per_node for o in offers]
        self._index_partners(offers)
        self._index_locations(offers)
        self.price_ok = _bitmasks(o.price_status == OK for o in offers).get(True, 0)
        by_rank = _bitmasks(INTERCONNECT_RANK.get(o.interconnect, -1) for o in offers)
        self.interconnect_at_least = {
            rank: _union(by_rank, [r for r in by_rank if r >= rank]) for rank in INTERCONNECT_RANK.values()}
        by_capacity = _bitmasks(o.available_nodes for o in offers)
        self.capacity_unknown = by_capacity.pop(None, 0)
        self.capacity_values = sorted(by_capacity)
        self.capacity_at_least: list[int] = [0] * len(self.capacity_values)
        running = 0
        for i in range(len(self.capacity_values) - 1, -1, -1):
            running |= by_capacity[self.capacity_values[i]]
            self.capacity_at_least[i] = running

    def _index_partners(self, offers: list[OfferSnapshot]) -> None:
        profiles = _bitmasks((o.partner, o.partner_active, o.partner_hq_jurisdiction, o.partner_certifications)
                             for o in offers)
        active, partner, hq, certs = 0, {}, {}, {}
        for (slug, is_active, hq_jurisdiction, certifications), mask in profiles.items():
            if is_active:
                active |= mask
            partner[slug] = partner.get(slug, 0) | mask
            hq[hq_jurisdiction] = hq.get(hq_jurisdiction, 0) | mask
            for cert in certifications:
                certs[cert] = certs.get(cert, 0) | mask
        self.active, self.partner, self.hq, self.certs = active, partner, hq, certs

    def _index_locations(self, offers: list[OfferSnapshot]) -> None:
        places = _bitmasks((o.region, o.country, o.jurisdiction) for o in offers)
        region, country, jurisdiction = {}, {}, {}
        for (code, country_code, jurisdiction_code), mask in places.items():
            if country_code:  # an unspecified location passes no location rule
                region[code] = region.get(code, 0) | mask
                country[country_code] = country.get(country_code, 0) | mask
            if jurisdiction_code:
                jurisdiction[jurisdiction_code] = jurisdiction.get(jurisdiction_code, 0) | mask
        self.region, self.country, self.jurisdiction = region, country, jurisdiction

    def within_cap(self, max_price_per_gpu_hour: float | None) -> int:
        """How many of the cheapest offers are at or under the cap."""
        if max_price_per_gpu_hour is None:
            return self.size
        return bisect_right(self.gpu_prices, max_price_per_gpu_hour)

    def with_capacity(self, nodes: int) -> int:
        i = bisect_right(self.capacity_values, nodes - 1)
        known = self.capacity_at_least[i] if i < len(self.capacity_at_least) else 0
        return known | self.capacity_unknown


class _Slot:
    """One GPU group's offers of one node size, split by the price they can be rented at."""

    def __init__(self, offers: list[OfferSnapshot]):
        self.size = len(offers)
        self.on_demand = _Bucket([o for o in offers if o.price_per_hour is not None], _on_demand_price)
        self.spot = _Bucket([o for o in offers if o.spot_price_per_hour is not None], _spot_price)


def _on_demand_price(offer: OfferSnapshot) -> float:
    return offer.price_per_hour  # type: ignore[return-value]


def _spot_price(offer: OfferSnapshot) -> float:
    return offer.spot_price_per_hour  # type: ignore[return-value]


class _GpuGroup:
    def __init__(self, gpu: str, memory_gb: float, architecture: str, offers: list[OfferSnapshot]):
        self.gpu, self.memory_gb, self.architecture = gpu, memory_gb, architecture
        self.size = len(offers)
        by_size: dict[int, list[OfferSnapshot]] = {}
        for offer in offers:
            by_size.setdefault(offer.gpus_per_node, []).append(offer)
        self.slots = {gpus: _Slot(members) for gpus, members in by_size.items()}

    def fits(self, request: PlacementRequest) -> bool:
        if request.min_gpu_memory_gb is not None and self.memory_gb < request.min_gpu_memory_gb:
            return False
        return request.architecture is None or self.architecture == request.architecture


class OfferIndex:
    """Offers grouped by GPU model and node size, built once per catalogue version."""

    def __init__(self, offers: Iterable[OfferSnapshot], *, version: int | None = None):
        self.offers = tuple(offers)
        self.size = len(self.offers)
        self.version = version
        members: dict[tuple, list[OfferSnapshot]] = {}
        for offer in self.offers:
            members.setdefault((offer.gpu, offer.gpu_memory_gb, offer.architecture), []).append(offer)
        self.groups_by_gpu: dict[str, list[_GpuGroup]] = {}
        for (gpu, memory_gb, architecture), group_offers in members.items():
            group = _GpuGroup(gpu, memory_gb, architecture, group_offers)
            self.groups_by_gpu.setdefault(gpu, []).append(group)
        self._by_id = {offer.id: offer for offer in self.offers}

    def __len__(self) -> int:
        return self.size

    def get(self, offer_id: int) -> OfferSnapshot | None:
        return self._by_id.get(offer_id)


def match(request: PlacementRequest, index: OfferIndex, *, limit: int | None = DEFAULT_LIMIT) -> MatchResult:
    """Rank the offers that satisfy every rule of the request; explain how many each rule excluded."""
    excluded = dict.fromkeys(RULES, 0)
    matched = 0
    candidates: list[tuple[tuple, Placement]] = []
    for group in _gpu_groups(request, index, excluded):
        slot = group.slots.get(request.gpus_per_node)
        excluded["gpus_per_node"] += group.size - (slot.size if slot else 0)
        if slot is None:
            continue
        bucket = slot.spot if request.spot else slot.on_demand
        excluded["spot" if request.spot else "no_price"] += slot.size - bucket.size
        passing = _apply_rules(bucket, request, excluded)
        matched += passing.bit_count()
        candidates.extend(_cheapest(bucket, passing, request, limit))
    by_key = itemgetter(0)
    ranked = sorted(candidates, key=by_key) if limit is None else heapq.nsmallest(limit, candidates, key=by_key)
    placements = tuple(placement for _, placement in ranked)
    return MatchResult(placements, Explanation(index.size, excluded, matched))


def _gpu_groups(request: PlacementRequest, index: OfferIndex, excluded: dict[str, int]) -> list[_GpuGroup]:
    """The groups the GPU rule lets through; whole groups it rejects are counted by their size."""
    if request.gpu is not None:
        pool = index.groups_by_gpu.get(request.gpu, [])
    else:
        pool = [group for groups in index.groups_by_gpu.values() for group in groups]
    fitting = [group for group in pool if group.fits(request)]
    excluded["gpu"] += index.size - sum(group.size for group in fitting)
    return fitting


def _apply_rules(bucket: _Bucket, request: PlacementRequest, excluded: dict[str, int]) -> int:
    """Bitmask of the bucket's offers passing every rule from the price cap on; counts the rest."""
    within = bucket.within_cap(request.max_price_per_gpu_hour)
    excluded["max_price"] += bucket.size - within
    remaining = (1 << within) - 1
    for rule, passing in _rule_masks(bucket, request):
        if not remaining:
            break
        if passing is None:
            continue
        kept = remaining & passing
        excluded[rule] += (remaining ^ kept).bit_count()
        remaining = kept
    return remaining


def _rule_masks(bucket: _Bucket, request: PlacementRequest) -> Iterator[tuple[str, int | None]]:
    """(rule, offers passing it) in RULES order; None for a rule the request does not invoke."""
    policy = request.policy
    yield "partner_active", bucket.active
    yield "price_integrity", None if request.allow_suspect_prices else bucket.price_ok
    rank = None if request.interconnect is None else INTERCONNECT_RANK.get(request.interconnect)
    yield "interconnect", None if request.interconnect is None else bucket.interconnect_at_least.get(rank, 0)
    if policy.partners_allow or policy.partners_deny:
        allowed = _union(bucket.partner, policy.partners_allow) if policy.partners_allow else bucket.all
        yield "partners", allowed & ~_union(bucket.partner, policy.partners_deny)
    if policy.partner_hq_jurisdictions:
        yield "partner_hq_jurisdictions", _union(bucket.hq, policy.partner_hq_jurisdictions)
    if policy.certifications:
        held = bucket.all
        for cert in policy.certifications:
            held &= bucket.certs.get(cert, 0)
        yield "certifications", held
    if policy.regions:
        yield "regions", _union(bucket.region, policy.regions)
    if policy.countries:
        yield "countries", _union(bucket.country, policy.countries)
    if policy.jurisdictions:
        yield "jurisdictions", _union(bucket.jurisdiction, policy.jurisdictions)
    yield "capacity", bucket.with_capacity(request.nodes)


def _cheapest(bucket: _Bucket, passing: int, request: PlacementRequest,
              limit: int | None) -> Iterator[tuple[tuple, Placement]]:
    """The first `limit` passing offers by price, plus any tied with the last on price (ties rank later)."""
    taken, last_total = 0, None
    while passing:
        low = passing & -passing
        i = low.bit_length() - 1
        passing ^= low
        total = bucket.node_prices[i] * request.nodes
        if limit is not None and taken >= limit and total != last_total:
            return
        taken, last_total = taken + 1, total
        yield _placement(bucket, i, total, request)


def _placement(bucket: _Bucket, i: int, total: float, request: PlacementRequest) -> tuple[tuple, Placement]:
    offer = bucket.offers[i]
    distance = None
    if request.near is not None and offer.latitude is not None and offer.longitude is not None:
        distance = great_circle_km(request.near.lat, request.near.lon, offer.latitude, offer.longitude)
    placement = Placement(offer, request.nodes, request.spot, bucket.node_prices[i], total,
                          bucket.gpu_prices[i], distance)
    key = (total, offer.available_nodes is None, -offer.partner_reliability,
           math.inf if distance is None else distance, offer.id)
    return key, placement


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a spherical Earth."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
