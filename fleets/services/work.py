"""Work on a machine: assign a node's launch to a free machine, stop it, record what the agent reports."""

import json

import yaml
from django.db import transaction

from fleets.flows import WORK_FLOW, WORK_LIVE
from fleets.models import Fleet, Machine, Work, WorkState
from fleets.services.offers import fleet_offers_refresh, machine_is_free, shape_of
from marketplace.secrets import decrypt_text, encrypt_text
from marketplace.states import transition
from providers.base import NO_CAPACITY, NOT_FOUND, ProviderError, ProvisionSpec

W = WorkState
LOG_TAIL_CHARS = 8000
NODE_TAG = "gpu-broker:node"


def agent_plan(user_data: str) -> dict:
    """The launch plan in the agent's form (JSON: it has no YAML parser): cloud-config, a script, or nothing."""
    if user_data.startswith("#cloud-config"):
        config = yaml.safe_load(user_data) or {}
        return {"format": "cloud-config", "write_files": config.get("write_files") or [],
                "runcmd": config.get("runcmd") or []}
    if user_data.startswith("#!"):
        return {"format": "script", "script": user_data}
    return {"format": "none"}


def work_assign(fleet: Fleet, spec: ProvisionSpec) -> Work:
    """The spec's launch on a free machine of the offer's shape (the same work again for the same key)."""
    with transaction.atomic():
        Fleet.objects.select_for_update().filter(pk=fleet.pk).first()
        work = Work.objects.select_related("machine").filter(idempotency_key=spec.idempotency_key).first()
        if work is not None:
            return work
        machine = next((m for m in fleet.machines.order_by("last_seen_at", "pk")
                        if shape_of(m) == (spec.region, spec.instance_type) and machine_is_free(m)), None)
        if machine is None:
            raise ProviderError(NO_CAPACITY, f"no free machine of shape {spec.instance_type} in {spec.region}")
        node_id = spec.tags.get(NODE_TAG)
        work = Work.objects.create(
            machine=machine, node_id=int(node_id) if node_id and node_id.isdigit() else None,
            idempotency_key=spec.idempotency_key, instance_type=spec.instance_type, region_code=spec.region,
            tags=spec.node_tags(), plan_encrypted=encrypt_text(json.dumps(agent_plan(spec.user_data))))
    fleet_offers_refresh(fleet)
    return work


def work_plan(work: Work) -> dict:
    return json.loads(decrypt_text(work.plan_encrypted) or '{"format": "none"}')


def work_for_ref(fleet: Fleet, ref: str) -> Work:
    pk = ref.removeprefix("work-")
    work = Work.objects.select_related("machine").filter(pk=int(pk) if pk.isdigit() else 0,
                                                         machine__fleet=fleet).first()
    if work is None:
        raise ProviderError(NOT_FOUND, f"no work {ref} in this fleet")
    return work


def work_stop(work: Work, *, reason: str, actor: str) -> None:
    """Ask the agent to stop the work; work it never started (or on a machine that is gone) stops at once."""
    if work.state == W.ASSIGNED or (work.state in WORK_LIVE and work.machine.state in ("offline", "removed")):
        transition(work, W.STOPPED, reason=f"{reason} (nothing started on the machine)", actor=actor)
    elif work.state == W.RUNNING:
        transition(work, W.STOPPING, reason=reason, actor=actor)
    fleet_offers_refresh(work.machine.fleet)


def work_report(machine: Machine, report: dict) -> bool:
    """What the agent says about one of its works: running, stopped, or failed with its exit code.

    True when the work changed state (its machine may have become free or busy).
    """
    work = Work.objects.filter(pk=report["id"], machine=machine).first()
    if work is None or work.state in WORK_FLOW.final:
        return False
    to, log = report["state"], report.get("log", "")[-LOG_TAIL_CHARS:]
    fields = {"log": log} if log and log != work.log else {}
    if report.get("exit_code") is not None and report["exit_code"] != work.exit_code:
        fields["exit_code"] = report["exit_code"]
    if to == W.RUNNING and work.state == W.ASSIGNED:
        return transition(work, W.RUNNING, reason="the launch plan ran", actor="agent", **fields)
    if to == W.STOPPED:
        return transition(work, W.STOPPED, reason="stopped on the machine", actor="agent", **fields)
    if to == W.FAILED:
        code = report.get("exit_code")
        return transition(work, W.FAILED, reason=f"the launch plan failed (exit status {code})", actor="agent",
                          **fields)
    if fields:
        Work.objects.filter(pk=work.pk).update(**fields)
    return False


def describe_state(work: Work) -> str:
    """The work as a partner node state (providers.base.NODE_STATES)."""
    return {W.ASSIGNED: "pending", W.RUNNING: "running", W.STOPPING: "running", W.STOPPED: "terminated",
            W.FAILED: "failed"}[work.state]
