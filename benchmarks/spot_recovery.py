"""Spot recovery: a 2-replica spot deployment, every spot node preempted N seconds after it runs, under load.

    .venv/bin/python -m benchmarks.spot_recovery [--preemption-after-s 25] [--notice-s 0,15] [--cycles 2] [--single]

Everything as in production except the worker: the web + gateway process (uvicorn, `broker.asgi`), the partner
simulator booting each node's cloud-init plan (the agent heartbeats, the NIM runtime serves on the node's own
address) with `--preemption-rate 1`, a temporary SQLite database; this process does the worker's and beat's
jobs (rentals and the deployments' control loop every 0.2 s, the spot watch every `SPOT_WATCH_S`). One client
calls the gateway in a loop. Prints JSON per notice setting: preemptions, how many were recovered,
detection time (preemption second → the broker knew: rental `preempted`, or the notice, negative when ahead),
recovery time (preemption second → the replacement replica ready; negative: ready before the node went), and
the error window (seconds during which gateway calls failed, from the first served call on) with the failed
calls. A replica replaced ahead of its notice is retired before the partner takes it (not `preempted_by_partner`).
`--single` adds a run where one replica of the two is preempted (control call) while the other serves.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.http_load import emit, free_port, machine, server_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PARTNERS = ("verda", "nebius", "seeweb", "hyperstack")  # EU partners the simulator serves (Partner API shape)
BODY = {"name": "spot-chat", "model": "gpu-broker/tiny-cpu-chat", "replicas": {"min": 2, "max": 2}, "spot": True,
        "policy": {"jurisdictions": ["EU"]}, "max_hours": 2}


def setup_broker(env: dict):
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from marketplace.catalog.importer import import_parsed
    from marketplace.catalog.snapshot import load_snapshot
    from marketplace.services.api_keys import api_key_create, workspace_ensure

    catalog = load_snapshot()
    import_parsed(catalog)
    workspace, user = workspace_ensure(name="bench")
    _, token = api_key_create(workspace=workspace, user=user)
    return catalog, workspace, user, token


def wire(server) -> None:
    from marketplace.models import NodeLaunch, Offer, Partner, PartnerKind, PartnerStatus
    from marketplace.selectors.catalog_version import bump_catalog_version

    Partner.objects.exclude(slug__in=PARTNERS).update(status=PartnerStatus.SUSPENDED)
    for partner in Partner.objects.filter(slug__in=PARTNERS):
        partner.kind, partner.base_url = PartnerKind.PARTNER_API, server.partner_api_url(partner.slug)
        partner.credentials = {"api_key": f"sim-{partner.slug}"}
        partner.node_launch, partner.status = NodeLaunch.CLOUD_INIT, PartnerStatus.ACTIVE
        partner.adapter_options = {"retries": 0}
        partner.save()
    Offer.objects.filter(partner__slug__in=PARTNERS).update(available_nodes=4)
    bump_catalog_version()


class Load(threading.Thread):
    """Calls the gateway back to back; keeps (time, ok) per call."""

    def __init__(self, url: str, token: str, model: str):
        super().__init__(daemon=True)
        self.url, self.token, self.model, self.calls, self.stop = url, token, model, [], threading.Event()

    def run(self) -> None:
        session = requests.Session()
        body = {"model": self.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        while not self.stop.is_set():
            try:
                ok = session.post(f"{self.url}/v1/chat/completions", json=body, timeout=5,
                                  headers={"Authorization": f"Bearer {self.token}"}).status_code == 200
            except requests.RequestException:
                ok = False
            self.calls.append((time.time(), ok))
            time.sleep(0.05)


def error_windows(calls: list[tuple[float, bool]]) -> list[float]:
    """Each run of failed calls as the seconds from the last success before it to the first success after it."""
    windows, last_ok, failing = [], None, False
    for at, ok in calls:
        if ok:
            if failing and last_ok is not None:
                windows.append(at - last_ok)
            last_ok, failing = at, False
        else:
            failing = True
    return windows


def worker_loop(deployment_id: int, stop: threading.Event, watch_s: float) -> None:
    from marketplace.services.preemption import spot_rentals_watch
    from marketplace.services.rentals import rental_finish_termination, rental_poll, rental_provision
    from nim_launcher.models import Replica
    from nim_launcher.services.deployments import deployment_reconcile

    next_watch = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_watch:
            spot_rentals_watch()
            next_watch = time.monotonic() + watch_s
        for replica in Replica.objects.filter(deployment_id=deployment_id).select_related("rental"):
            if replica.rental.state in ("pending", "provisioning"):
                rental_provision(replica.rental_id)
                rental_poll(replica.rental_id)
            elif replica.rental.state == "terminating":
                rental_finish_termination(replica.rental_id)
        deployment_reconcile(deployment_id)
        time.sleep(0.2)


def measure(notice_s: float, args, env: dict, tmp: Path, *, single: bool = False) -> dict:
    """One run; `single`: no scheduled preemptions, one replica's node preempted by the control call instead."""
    from django.conf import settings

    from marketplace.models import Rental
    from nim_launcher.models import Replica
    from nim_launcher.services.deployments import DeploymentInput, deployment_create
    from providers.simulator import Faults, SimulatorServer

    catalog, workspace, user, token = env["_ctx"]
    started_at = time.time()
    faults = Faults(delay_s=1.0, preemption_rate=0.0 if single else 1.0, preemption_after_s=args.preemption_after_s,
                    preemption_notice_s=notice_s)
    label = "single" if single else f"notice-{int(notice_s)}"
    sim = SimulatorServer([o for o in catalog.offers if o.partner in PARTNERS], capacity=4, faults=faults,
                          run_user_data=True, runtime_dir=tmp / f"nodes-{label}").start()
    wire(sim)
    name = f"{BODY['name']}-{label}"
    deployment, _ = deployment_create(workspace=workspace, user=user, data=DeploymentInput(
        name=name, model=BODY["model"], replicas_min=2, replicas_max=2, policy=BODY["policy"],
        request_extras={"spot": True}, gpu=None, max_hours=BODY["max_hours"]))
    stop = threading.Event()
    loop = threading.Thread(target=worker_loop, args=(deployment.pk, stop, settings.SPOT_WATCH_S), daemon=True)
    loop.start()
    load = Load(env["_gateway"], token, name)
    load.start()
    started = time.monotonic()
    limit = args.cycles * (args.preemption_after_s + 30) + 60
    if single:
        _preempt_one_when_serving(sim, deployment.pk, started + limit)
    target = 1 if single else 2 * args.cycles
    while time.monotonic() - started < limit and _recovered(deployment.pk) < target:
        time.sleep(0.5)
    time.sleep(1.0)  # calls after the last recovery
    stop.set()
    loop.join()
    load.stop.set()
    load.join()
    nodes = {n["id"]: n for slug in PARTNERS for n in sim.store.list_nodes(slug, include_terminated=True)}
    detection, recovery, recovered = [], [], 0
    for rental in Rental.objects.filter(replica__deployment=deployment).exclude(replaces=None):
        lost = rental.replaces
        node = lost.nodes.exclude(provider_ref="").first()
        # The preemption's second: when the partner took the node, or (replaced ahead of it) when it would have.
        taken_at = nodes.get(node.provider_ref, {}).get("preempted_at") if node else None
        ends_at = taken_at or (lost.preempt_at.timestamp() if lost.preempt_at else None)
        ready_at = Replica.objects.get(rental=rental).ready_at
        if ends_at is None or ready_at is None:
            continue
        recovered += 1
        known = lost.events.filter(reason__startswith="preemption notice").values_list("at", flat=True).first() \
            or lost.events.filter(to_state="preempted").values_list("at", flat=True).first()
        if known:
            detection.append(known.timestamp() - ends_at)
        recovery.append(ready_at.timestamp() - ends_at)
    serving = _from_first_success(load.calls)
    windows = error_windows(serving)
    sim.stop()
    _stop_runtimes(tmp / f"nodes-{label}")
    return {
        "scenario": "one of the two replicas preempted (control call)" if single else
                    "every spot node preempted after preemption_after_s (both replicas at once)",
        "preemption_notice_s": 0.0 if single else notice_s,
        "preempted_by_partner": sum(1 for n in nodes.values() if n["preempted_at"]),
        "recovered": recovered,
        "detection_s": _stats(detection),
        "recovery_s": _stats(recovery),
        "seconds": round(time.time() - started_at, 1),
        "calls": len(serving), "failed_calls": sum(1 for _, ok in serving if not ok),
        "error_window_s": {"total": round(sum(windows), 2), "longest": round(max(windows), 2) if windows else 0.0,
                           "windows": len(windows)},
    }


def _preempt_one_when_serving(sim, deployment_id: int, deadline: float) -> None:
    """Once both replicas are ready, the partner takes one replica's node back at once."""
    from nim_launcher.models import Replica

    while time.monotonic() < deadline:
        ready = list(Replica.objects.filter(deployment_id=deployment_id, state="ready").select_related("rental"))
        if len(ready) == 2:
            node = ready[0].rental.nodes.get(state="running")
            requests.post(f"{sim.url}/_control/{node.partner.slug}", json={"preempt": node.provider_ref}, timeout=5)
            time.sleep(1.0)  # let the load see both replicas serve first
            return
        time.sleep(0.5)


def _from_first_success(calls: list[tuple[float, bool]]) -> list[tuple[float, bool]]:
    """The calls once the deployment first served (the initial boot is not an error window)."""
    first = next((i for i, (_, ok) in enumerate(calls) if ok), len(calls))
    return calls[first:]


def _recovered(deployment_id: int) -> int:
    """Replicas that replace a preempted one and were ready (serving) at some point."""
    from nim_launcher.models import Replica

    return Replica.objects.filter(deployment_id=deployment_id, rental__replaces__isnull=False,
                                  ready_at__isnull=False).count()


def _stop_runtimes(runtime_dir: Path) -> None:
    from providers.processes import kill_group

    for pid_file in runtime_dir.glob("*.pid"):
        kill_group(runtime_dir, pid_file.stem)


def _stats(values: list[float]) -> dict:
    if not values:
        return {"median": None, "max": None, "n": 0}
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2), "n": len(values)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preemption-after-s", type=float, default=25.0)
    parser.add_argument("--notice-s", default="0,15", help="comma-separated notice settings, each measured in turn")
    parser.add_argument("--cycles", type=int, default=2, help="preemptions of both replicas to wait for")
    parser.add_argument("--single", action="store_true", help="also: one replica preempted while the other serves")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        web_port = free_port()
        gateway = f"http://127.0.0.1:{web_port}"
        env = {**os.environ, "DEV_SECRETS": "true", "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "VAR_DIR": tmp,
               "DJANGO_SETTINGS_MODULE": "broker.settings", "LOG_LEVEL": "WARNING", "DEBUG": "false",
               "PUBLIC_BASE_URL": gateway}
        context = setup_broker(env)
        web = subprocess.Popen(server_command("uvicorn", web_port, workers=1), cwd=ROOT, env=env)
        try:
            _wait(f"{gateway}/api/v1/gpus")
            results = []
            ctx = {"_ctx": context, "_gateway": gateway}
            for notice in (float(n) for n in args.notice_s.split(",")):
                results.append(measure(notice, args, ctx, Path(tmp)))
            if args.single:
                results.append(measure(0.0, args, ctx, Path(tmp), single=True))
        finally:
            web.terminate()
            web.wait(timeout=10)
    from django.conf import settings

    emit({"benchmark": "spot_recovery", "machine": machine(),
          "config": {"replicas": 2, "preemption_rate": 1.0, "preemption_after_s": args.preemption_after_s,
                     "spot_watch_s": settings.SPOT_WATCH_S, "gateway_cache_ttl_s": settings.GATEWAY_CACHE_TTL_S,
                     "control_loop_s": 0.2, "simulated_boot_delay_s": 1.0, "database": "sqlite"},
          "runs": results}, args.output)


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


if __name__ == "__main__":
    main()
