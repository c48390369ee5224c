"""`gpubroker-agent work`: the fleet machine's loop. One long poll carries the heartbeat (health, each work's
state, exit status and log) to the broker and brings back the work to start and stop; no inbound connection
to the machine is ever needed. The broker answering `removed` (the machine was drained) ends the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import requests

from .fleet_plan import PlanRun

log = logging.getLogger(__name__)
BACKOFF_S = 1.0
BACKOFF_MAX_S = 30.0
HTTP_SLACK_S = 15
MIN_POLL_INTERVAL_S = 2.0  # a broker that answers at once (long polls capped) is not asked in a busy loop


class FleetWorker:
    def __init__(self, credentials: dict, *, health: Callable[[], tuple[str, list[str]]], wait_s: float = 20.0,
                 sandbox: Path | None = None, sandbox_bin: Path | None = None, session: requests.Session | None = None):
        self.url = f"{credentials['broker'].rstrip('/')}/api/v1/fleet-machines/{credentials['machine_id']}/poll"
        self.headers = {"Authorization": f"Machine {credentials['token']}", "User-Agent": "gpubroker-agent"}
        self.health, self.wait_s = health, wait_s
        self.sandbox, self.sandbox_bin = sandbox, sandbox_bin
        self.http = session or requests.Session()
        self.runs: dict[int, PlanRun] = {}

    def poll_once(self) -> dict:
        """Report and ask; start and stop what the broker says. Returns its answer."""
        state, reasons = self.health()
        sent = [report for report in (run.report() for run in self.runs.values()) if report is not None]
        response = self.http.post(self.url, params={"wait": self.wait_s}, headers=self.headers, timeout=(
            10, self.wait_s + HTTP_SLACK_S), json={"health": state, "reasons": reasons, "works": sent})
        if response.status_code >= 400:
            raise requests.HTTPError(f"HTTP {response.status_code}: {response.text[:300]}", response=response)
        answer = response.json()
        for report in sent:  # a final state the broker has heard needs no repeating
            if report["state"] in ("stopped", "failed"):
                self.runs.pop(report["id"], None)
        for item in answer.get("start", []):
            if item["id"] not in self.runs:
                log.info("work %s: starting its launch plan (%s)", item["id"], item["plan"].get("format"))
                self.runs[item["id"]] = PlanRun(item["id"], item["plan"], sandbox=self.sandbox,
                                                sandbox_bin=self.sandbox_bin).start()
        for work_id in answer.get("stop", []):
            run = self.runs.get(work_id) or PlanRun(work_id, {"format": "none"})
            log.info("work %s: stopping", work_id)
            run.stop()
            self.runs[work_id] = run
        return answer

    def run_forever(self, sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> int:
        backoff = BACKOFF_S
        while True:
            started = clock()
            try:
                answer = self.poll_once()
            except (requests.RequestException, ValueError) as exc:
                if isinstance(exc, requests.HTTPError) and exc.response is not None and exc.response.status_code < 500:
                    log.error("the broker refused this machine: %s", exc)
                    return 1
                log.warning("poll failed: %s; again in %.0f s", exc, backoff)
                sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_S
            if answer.get("state") == "removed":
                for run in self.runs.values():
                    run.stop()
                log.info("this machine was removed from its fleet: stopping")
                return 0
            if not answer.get("start") and not answer.get("stop"):
                sleep(max(0.0, min(MIN_POLL_INTERVAL_S, self.wait_s) - (clock() - started)))
