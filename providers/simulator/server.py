"""Serve the simulator on loopback from a background thread (tests, the management command)."""

from __future__ import annotations

import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .app import SimulatorApp
from .nebius_grpc import NebiusGrpcServer
from .ssh_server import SshServer
from .store import Faults, Store, group_seed

PREEMPTION_TICK_S = 0.1


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class SimulatorServer:
    """Simulated partners seeded from catalogue offers, served at `url` until `stop()`."""

    def __init__(self, seed_offers: Any, *, state_path: str | Path = ":memory:", host: str = "127.0.0.1",
                 port: int = 0, capacity: int = 4, faults: Faults | None = None, random_seed: int | None = None,
                 run_user_data: bool = False, runtime_dir: Path | None = None, partners: list[str] | None = None,
                 clock: Any = None, nebius_port: int = 0):
        grouped = group_seed(seed_offers)
        if partners:
            grouped = {slug: offers for slug, offers in grouped.items() if slug in partners}
        self.store = Store(state_path, **({"clock": clock} if clock else {}))
        self.store.seed(grouped, capacity=capacity, faults=faults)
        if faults is not None:  # explicit faults (command options) win over those a restart finds
            for slug in grouped:
                self.store.set_faults(slug, faults)
        self.app = SimulatorApp(self.store, seed=random_seed, run_user_data=run_user_data, runtime_dir=runtime_dir)
        self.httpd = make_server(host, port, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.host, self.port = host, self.httpd.server_address[1]
        self.nebius = NebiusGrpcServer(self.app, host=host, port=nebius_port)
        self.app.ssh = SshServer(self.app)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._preemptions = threading.Thread(target=self._preempt_loop, name="simulator-preemptions", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def partner_api_url(self, slug: str) -> str:
        return f"{self.url}/p/{slug}"

    def lambda_url(self, slug: str) -> str:
        return f"{self.url}/lambda/{slug}/api/v1"

    def shadeform_url(self, slug: str) -> str:
        return f"{self.url}/shadeform/{slug}/v1"

    def vast_url(self, slug: str) -> str:
        return f"{self.url}/vast/{slug}/api/v0"

    def verda_url(self, slug: str) -> str:
        return f"{self.url}/verda/{slug}/v1"

    def hyperstack_url(self, slug: str) -> str:
        return f"{self.url}/hyperstack/{slug}/v1"

    def gcp_url(self, slug: str) -> str:
        """Compute Engine's root; the token endpoint and the Billing Catalog sit beside it (`gcp_routes`)."""
        return f"{self.url}/gcp/{slug}/compute/v1"

    def lium_url(self, slug: str) -> str:
        return f"{self.url}/lium/{slug}/api"

    def jarvislabs_url(self, slug: str) -> str:
        return f"{self.url}/jarvislabs/{slug}"

    def mithril_url(self, slug: str) -> str:
        """The API's root: the adapter adds Mithril's own `/v2/...` paths."""
        return f"{self.url}/mithril/{slug}"

    def yotta_url(self, slug: str) -> str:
        """The API's root: the adapter adds Yotta's own `/openapi/...` and `/v2/...` paths."""
        return f"{self.url}/yotta/{slug}"

    def hyperbolic_url(self, slug: str) -> str:
        """The API's root: the adapter adds Hyperbolic's own `/v1/marketplace...` paths."""
        return f"{self.url}/hyperbolic/{slug}"

    def seeweb_url(self, slug: str) -> str:
        """Seeweb's ECS API root (`https://api.seeweb.it/ecs/v2` at the vendor)."""
        return f"{self.url}/seeweb/{slug}/ecs/v2"

    def nebius_url(self, slug: str) -> str:
        """The Nebius-shaped gRPC API, on a port of its own; the partner is the tenant `tenant-<slug>`."""
        return self.nebius.url

    def start(self) -> SimulatorServer:
        self.nebius.start()
        self.app.ssh.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="partner-simulator", daemon=True)
        self._thread.start()
        self._preemptions.start()
        return self

    def serve_forever(self) -> None:
        self._preemptions.start()
        self.nebius.start()
        self.app.ssh.start()
        self.httpd.serve_forever()

    def _preempt_loop(self) -> None:
        """Scheduled spot preemptions happen on time even when nobody calls the API."""
        while not self._stopping.wait(PREEMPTION_TICK_S):
            self.app.preempt_due()

    def stop(self) -> None:
        self._stopping.set()
        if self._preemptions.is_alive():
            self._preemptions.join()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.nebius.stop()
        self.app.ssh.stop()
        self.store.close()
