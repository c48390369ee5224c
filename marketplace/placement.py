"""Parsing a placement request (DESIGN §2) into the engine's PlacementRequest: one parser for every door.

The API, the dashboard and the services call the same functions, so the same body gets the same errors
everywhere: `InvalidInput` keyed by dotted field path (e.g. "policy.countries"). No Django, no DRF.
A request stored after parsing (a rental's, a deployment's) is read back with
`PlacementRequest.from_dict`, never parsed again.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from marketplace import inputs
from marketplace.catalog.countries import is_country, is_jurisdiction
from marketplace.catalog.gpus import CANONICAL_GPUS, lookup_gpu
from marketplace.errors import InvalidInput
from marketplace.inputs import BadValue, Fields
from marketplace.matching import CAPACITY_MODES, FLEET_FIRST, INTERCONNECT_RANK, Near, PlacementRequest, Policy

ARCHITECTURES = sorted({spec.architecture for spec in CANONICAL_GPUS.values()})
INTERCONNECTS = sorted(INTERCONNECT_RANK)
MAX_NODES = 1024
MAX_GPUS_PER_NODE = 64
MAX_HOURS_LIMIT = Decimal(24 * 31)
REQUEST_FIELDS = ("gpu", "min_gpu_memory_gb", "architecture", "gpus_per_node", "nodes", "interconnect", "spot",
                  "spot_fallback", "max_price_per_gpu_hour", "policy", "near", "allow_suspect_prices", "capacity")
POLICY_FIELDS = ("regions", "countries", "jurisdictions", "partners", "partner_hq_jurisdictions", "certifications")
RENTAL_FIELDS = ("max_hours", "ssh_public_key")
SSH_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def canonical_gpu(value) -> str:
    """A GPU name or alias → its canonical name; an unknown name is a BadValue."""
    name = inputs.text(value, max_length=64)
    spec = lookup_gpu(name)
    if spec is None:
        raise BadValue([f"unknown GPU {name!r}"])
    return spec.name


def _architecture(value) -> str:
    name = inputs.text(value, max_length=16).lower()
    if name not in ARCHITECTURES:
        raise BadValue([f"unknown architecture {value!r}; one of {', '.join(ARCHITECTURES)}"])
    return name


def _codes(is_valid, what: str):
    def read(value) -> list[str]:
        codes = [code.upper() for code in inputs.items(value, inputs.text)]
        unknown = [code for code in codes if not is_valid(code)]
        if unknown:
            raise BadValue([f"unknown {what}: {', '.join(unknown)}"])
        return codes
    return read


def _texts(max_length: int | None = None):
    return lambda value: inputs.items(value, lambda item: inputs.text(item, max_length=max_length))


def _partners(value) -> dict[str, list[str]]:
    fields = Fields(value, known=("allow", "deny"))
    rule = {name: fields.get(name, lambda v: inputs.items(v, inputs.slug), default=[]) for name in ("allow", "deny")}
    fields.check()
    return rule


def _policy(value) -> Policy:
    fields = Fields(value, known=POLICY_FIELDS)
    regions = fields.get("regions", _texts(128), default=[])
    countries = fields.get("countries", _codes(is_country, "country code (ISO 3166-1 alpha-2)"), default=[])
    jurisdictions = fields.get("jurisdictions", _codes(is_jurisdiction, "jurisdiction"), default=[])
    partners = fields.get("partners", _partners, default={"allow": [], "deny": []})
    hq = fields.get("partner_hq_jurisdictions", _codes(is_jurisdiction, "jurisdiction"), default=[])
    certifications = fields.get("certifications", _texts(32), default=[])
    fields.check()
    return Policy(regions=frozenset(regions), countries=frozenset(countries), jurisdictions=frozenset(jurisdictions),
                  partners_allow=frozenset(partners["allow"]), partners_deny=frozenset(partners["deny"]),
                  partner_hq_jurisdictions=frozenset(hq),
                  certifications=frozenset(cert.upper() for cert in certifications))


def _near(value) -> Near:
    fields = Fields(value, known=("lat", "lon"))
    lat = fields.get("lat", lambda v: inputs.number(v, low=-90, high=90))
    lon = fields.get("lon", lambda v: inputs.number(v, low=-180, high=180))
    fields.check()
    return Near(lat, lon)


def _request(fields: Fields) -> PlacementRequest:
    get = fields.get
    return PlacementRequest(
        gpu=get("gpu", canonical_gpu, default=None, null=True),
        min_gpu_memory_gb=get("min_gpu_memory_gb", lambda v: inputs.number(v, low=0), default=None, null=True),
        architecture=get("architecture", _architecture, default=None, null=True),
        gpus_per_node=get("gpus_per_node", lambda v: inputs.integer(v, low=1, high=MAX_GPUS_PER_NODE), default=1),
        nodes=get("nodes", lambda v: inputs.integer(v, low=1, high=MAX_NODES), default=1),
        interconnect=get("interconnect", lambda v: inputs.choice(v, INTERCONNECTS), default=None, null=True),
        spot=get("spot", inputs.boolean, default=False),
        spot_fallback=get("spot_fallback", inputs.boolean, default=False),
        max_price_per_gpu_hour=get("max_price_per_gpu_hour", lambda v: inputs.number(v, low=0), default=None,
                                   null=True),
        policy=get("policy", _policy, default=Policy()),
        near=get("near", _near, default=None, null=True),
        allow_suspect_prices=get("allow_suspect_prices", inputs.boolean, default=False),
        capacity=get("capacity", lambda v: inputs.choice(v, CAPACITY_MODES), default=FLEET_FIRST),
    )


def _checked(request: PlacementRequest, fields: Fields) -> PlacementRequest:
    """Rules across fields: on-demand fallback only means something for a spot request."""
    if request.spot_fallback and not request.spot and not {"spot", "spot_fallback"} & set(fields.errors):
        fields.errors["spot_fallback"] = ['only applies with "spot": true (on-demand after spot capacity runs out)']
    return request


def _fields(data, extra: Iterable[str]) -> Fields:
    if not isinstance(data, Mapping):
        raise InvalidInput({"non_field_errors": ["expected a JSON object"]})
    return Fields(data, known=REQUEST_FIELDS, extra=extra)


def parse_placement_request(data, *, allowed_extra: Iterable[str] = ()) -> PlacementRequest:
    """Validate a placement request body; raise InvalidInput naming every invalid field at once.

    `allowed_extra` names the top-level fields the caller handles itself (e.g. "limit").
    """
    fields = _fields(data, allowed_extra)
    request = _checked(_request(fields), fields)
    if fields.errors:
        raise InvalidInput(fields.errors)
    return request


def parse_policy(data) -> Policy:
    """Validate a policy object alone (a deployment's); errors are keyed relative to it ("countries")."""
    try:
        return _policy(data)
    except BadValue as exc:
        raise inputs.invalid_input(exc) from None


def _ssh_public_key(value) -> str:
    key = inputs.text(value, max_length=8192, blank=True)
    if key and not key.startswith(SSH_KEY_PREFIXES):
        raise BadValue(["not an OpenSSH public key (expected 'ssh-ed25519 AAAA…' or similar)"])
    return key


@dataclass(frozen=True)
class RentalRequest:
    """A parsed `POST /api/v1/rentals` body: the placement request plus the rental's own fields."""

    request: PlacementRequest
    max_hours: Decimal
    ssh_public_key: str


def parse_rental_request(data, *, allowed_extra: Iterable[str] = ()) -> RentalRequest:
    """The placement request + `max_hours` (required) + optional `ssh_public_key`; every error at once."""
    fields = _fields(data, (*RENTAL_FIELDS, *allowed_extra))
    request = _checked(_request(fields), fields)
    max_hours = fields.get("max_hours", lambda v: inputs.decimal(v, max_digits=8, places=2, low=Decimal("0.01"),
                                                                 high=MAX_HOURS_LIMIT))
    ssh_public_key = fields.get("ssh_public_key", _ssh_public_key, default="")
    if fields.errors:
        raise InvalidInput(fields.errors)
    return RentalRequest(request, max_hours, ssh_public_key)


def flatten_errors(errors, prefix: str = "") -> dict[str, list[str]]:
    """{"policy": {"countries": [...]}} → {"policy.countries": [...]}: every message names its field."""
    if isinstance(errors, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            name = str(key) if key != "non_field_errors" or not prefix else ""
            flat |= flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix)
        return flat
    if isinstance(errors, list) and errors and not all(isinstance(e, str) for e in errors):
        flat = {}
        for i, value in enumerate(errors):
            if value:
                flat |= flatten_errors(value, f"{prefix}.{i}")
        return flat
    return {prefix or "non_field_errors": [str(e) for e in errors]}
