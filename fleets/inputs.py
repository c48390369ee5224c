"""Parsing the fleet API's bodies (a fleet, a joining machine, an agent's poll) with the API's messages."""

from collections.abc import Mapping
from decimal import Decimal

from fleets.models import WorkState
from fleets.services.fleets import Inventory, JoinRequest
from marketplace import inputs
from marketplace.catalog.countries import is_country
from marketplace.errors import InvalidInput
from marketplace.inputs import BadValue, Fields
from marketplace.models import HealthState

MAX_GPUS = 64
REPORTED_WORK_STATES = (WorkState.RUNNING, WorkState.STOPPED, WorkState.FAILED)


def _read(data, known, reader):
    if not isinstance(data, Mapping):
        raise InvalidInput({"non_field_errors": ["expected a JSON object"]})
    fields = Fields(data, known=known)
    value = reader(fields)
    if fields.errors:
        raise InvalidInput(fields.errors)
    return value


def parse_fleet(data) -> tuple[str, Decimal]:
    """`name` (required) and `price_per_gpu_hour` (the internal price, default 0)."""
    return _read(data, ("name", "price_per_gpu_hour"), lambda f: (
        f.get("name", lambda v: inputs.text(v, max_length=64)),
        f.get("price_per_gpu_hour", lambda v: inputs.decimal(v, max_digits=16, places=6, low=Decimal(0)),
              default=Decimal(0))))


def _country(value) -> str:
    code = inputs.text(value, max_length=2).upper()
    if not is_country(code):
        raise BadValue([f"unknown country code {value!r} (ISO 3166-1 alpha-2)"])
    return code


def _inventory(value) -> Inventory:
    fields = Fields(value, known=("gpus", "gpu_memory_gb", "vcpus", "memory_gb", "simulated"))
    gpus = fields.get("gpus", lambda v: inputs.items(v, lambda n: inputs.text(n, max_length=128)), default=[])
    if gpus and len(gpus) > MAX_GPUS:
        fields.errors["gpus"] = [f"at most {MAX_GPUS} GPUs"]
    inventory = Inventory(
        gpu_names=tuple(gpus or ()),
        gpu_memory_gb=fields.get("gpu_memory_gb", lambda v: inputs.integer(v, low=0, high=4096), default=0),
        vcpus=fields.get("vcpus", lambda v: inputs.integer(v, low=0, high=100_000), default=0),
        memory_gb=fields.get("memory_gb", lambda v: inputs.number(v, low=0, high=1e6), default=0.0),
        simulated=fields.get("simulated", inputs.boolean, default=False))
    fields.check()
    return inventory


def parse_join(data) -> JoinRequest:
    known = ("token", "hostname", "country", "region", "ip", "inventory")
    return _read(data, known, lambda f: JoinRequest(
        token=f.get("token", lambda v: inputs.text(v, max_length=200)),
        hostname=f.get("hostname", lambda v: inputs.text(v, max_length=255)),
        country=f.get("country", _country),
        region=f.get("region", lambda v: inputs.text(v, max_length=64, blank=True), default=""),
        ip=f.get("ip", lambda v: inputs.text(v, max_length=64, blank=True), default=""),
        inventory=f.get("inventory", _inventory)))


def _work_report(value) -> dict:
    fields = Fields(value, known=("id", "state", "exit_code", "log"))
    report = {"id": fields.get("id", lambda v: inputs.integer(v, low=1)),
              "state": fields.get("state", lambda v: inputs.choice(v, REPORTED_WORK_STATES)),
              "exit_code": fields.get("exit_code", lambda v: inputs.integer(v, low=-255, high=255), default=None,
                                      null=True),
              "log": fields.get("log", lambda v: inputs.text(v, blank=True), default="")}
    fields.check()
    return report


def parse_poll(data) -> tuple[str, str, list[dict]]:
    """The agent's poll: its health verdict and reasons, and the state of each of its works."""
    return _read(data, ("health", "reasons", "works"), lambda f: (
        f.get("health", lambda v: inputs.choice(v, HealthState.values)),
        "; ".join(f.get("reasons", lambda v: inputs.items(v, lambda r: inputs.text(r, max_length=500, blank=True)),
                        default=[]) or []),
        f.get("works", lambda v: inputs.items(v, _work_report), default=[]) or []))
