"""Parsing a `POST /api/v1/jobs` body (DESIGN §11): the job's own fields plus the placement request of §2.

One parser for the API, the dashboard and the services; every error names its field. No Django, no DRF.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from jobs.models import JobTemplate
from marketplace import inputs
from marketplace.errors import InvalidInput
from marketplace.inputs import BadValue, Fields
from marketplace.matching import PlacementRequest
from marketplace.placement import MAX_HOURS_LIMIT, MAX_NODES, REQUEST_FIELDS, parse_placement_request
from nim_launcher.agent.job_runner import RENDEZVOUS_NAMES

JOB_FIELDS = ("name", "image", "command", "env", "template", "workers", "max_retries", "max_hours",
              "ttl_after_finished_s")
PLACEMENT_FIELDS = tuple(name for name in REQUEST_FIELDS if name != "nodes")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_REFS = ("ngc_api_key",)
MAX_ARGS, MAX_ARG_LENGTH, MAX_ENV = 256, 8192, 128
MAX_RETRIES = 10


@dataclass(frozen=True)
class JobInput:
    name: str
    image: str
    command: list[str]
    env: dict
    template: str
    workers: int
    request: PlacementRequest
    max_retries: int
    max_hours: Decimal
    ttl_after_finished_s: int | None


def _argv(value) -> list[str]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, list):
        raise BadValue(["must be a list of strings (argv), e.g. [\"python\", \"train.py\"]"])
    if len(value) > MAX_ARGS:
        raise BadValue([f"at most {MAX_ARGS} arguments"])
    if not all(isinstance(arg, str) for arg in value):
        raise BadValue(["must be a list of strings (argv): every item a string"])
    if any(len(arg) > MAX_ARG_LENGTH or "\x00" in arg for arg in value):
        raise BadValue([f"each argument at most {MAX_ARG_LENGTH} characters, without NUL"])
    return list(value)


def reserved(name: str) -> bool:
    """GPUB_* and the rendezvous names are the broker's to set on every worker."""
    return name.startswith("GPUB_") or name in RENDEZVOUS_NAMES


def _env_value(value):
    if isinstance(value, Mapping):
        if set(value) != {"secret"} or value["secret"] not in SECRET_REFS:
            raise BadValue([f"a secret is given by reference: {{\"secret\": one of {', '.join(SECRET_REFS)}}}"])
        return {"secret": value["secret"]}
    text = inputs.text(value, max_length=MAX_ARG_LENGTH, blank=True)
    if "\n" in text or "\r" in text or "\x00" in text:
        raise BadValue(["must be one line"])
    return text


def _env(value) -> dict:
    if not isinstance(value, Mapping):
        raise BadValue(["must be an object {name: value}"])
    if len(value) > MAX_ENV:
        raise BadValue([f"at most {MAX_ENV} variables"])
    env, errors = {}, {}
    for name, item in value.items():
        if not ENV_NAME.match(str(name)):
            errors[str(name)] = ["not a valid environment variable name"]
        elif reserved(name):
            errors[name] = [f"{name} is reserved: the broker sets GPUB_* and "
                            f"{', '.join(n for n in RENDEZVOUS_NAMES if not n.startswith('GPUB_'))} on every worker"]
        else:
            try:
                env[name] = _env_value(item)
            except BadValue as exc:
                errors[name] = exc.errors
    if errors:
        raise BadValue(errors)
    return env


def parse_job_request(data) -> JobInput:
    """Validate a job body; raise InvalidInput naming every invalid field at once."""
    if not isinstance(data, Mapping):
        raise InvalidInput({"non_field_errors": ["expected a JSON object"]})
    fields = Fields({k: v for k, v in data.items() if k != "nodes"}, known=(*JOB_FIELDS, *PLACEMENT_FIELDS))
    if "nodes" in data:
        fields.errors["nodes"] = ["a job's nodes are its workers: give workers"]
    name = fields.get("name", inputs.slug, default="job")
    image = fields.get("image", lambda v: inputs.text(v, max_length=255), default="")
    command = fields.get("command", _argv, default=[])
    env = fields.get("env", _env, default={})
    template = fields.get("template", lambda v: _template(v), default=JobTemplate.NONE)
    workers = fields.get("workers", lambda v: inputs.integer(v, low=1, high=MAX_NODES), default=1)
    max_retries = fields.get("max_retries", lambda v: inputs.integer(v, low=0, high=MAX_RETRIES), default=0)
    max_hours = fields.get("max_hours", lambda v: inputs.decimal(v, max_digits=8, places=2, low=Decimal("0.01"),
                                                                 high=MAX_HOURS_LIMIT), default=Decimal(24))
    ttl = fields.get("ttl_after_finished_s", lambda v: inputs.integer(v, low=0, high=365 * 86400), default=None,
                     null=True)
    if "command" not in fields.errors and not command and not image:
        fields.errors["command"] = ["give a command, an image, or both"]
    if template and template != JobTemplate.NONE and not command and "command" not in fields.errors:
        fields.errors["command"] = [f"the {template} template runs a command: give one"]
    placement = {key: value for key, value in data.items() if key in PLACEMENT_FIELDS}
    request = None
    try:
        request = parse_placement_request({**placement, "nodes": workers or 1})
    except InvalidInput as exc:
        fields.errors |= {key: value for key, value in exc.errors.items() if key != "nodes"}
    if fields.errors:
        raise InvalidInput(fields.errors)
    return JobInput(name=name, image=image, command=command, env=env, template=template, workers=workers,
                    request=request, max_retries=max_retries, max_hours=max_hours, ttl_after_finished_s=ttl)


def _template(value) -> str:
    if value not in JobTemplate.values:
        raise BadValue([f"unknown template {value!r}; one of {', '.join(JobTemplate.values)}"])
    return value
