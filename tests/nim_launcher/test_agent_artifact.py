"""The node agent artifact: reproducible, self-contained (runs in an empty venv), served by the broker, and a
plan whose hash does not match the download never starts it."""

import hashlib
import http.server
import json
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import nim_launcher.agent
from nim_launcher.agent import AGENT_VERSION
from nim_launcher.agent_dist import build_agent, build_bytes
from nim_launcher.plans import AgentDownload, NodeContext, render_cloud_init
from nim_launcher.profiles import TINY_CHAT_MODEL, get_model
from providers.processes import kill_group, start_process


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return build_agent(tmp_path_factory.mktemp("agent"))


def test_the_build_is_reproducible_and_holds_only_the_agent_and_pure_python_dependencies(artifact):
    assert build_bytes() == artifact.path.read_bytes()
    assert hashlib.sha256(artifact.path.read_bytes()).hexdigest() == artifact.sha256
    assert artifact.filename == f"gpu-broker-agent-{AGENT_VERSION}-{artifact.sha256[:12]}.pyz"
    names = zipfile.ZipFile(artifact.path).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"__main__.py", "nim_launcher", "requests", "urllib3", "idna", "certifi", "charset_normalizer",
                    "pynvml.py"}
    assert {n for n in names if n.startswith("nim_launcher/")} >= {"nim_launcher/agent/cli.py",
                                                                    "nim_launcher/agent/xid.csv"}
    assert not [n for n in names if n.endswith((".so", ".pyc"))]
    assert not [n for n in names if n.startswith("nim_launcher/") and not n.startswith("nim_launcher/agent/")
                and n != "nim_launcher/__init__.py"]


def test_the_zipapp_runs_alone_in_an_empty_virtualenv(artifact, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python, clean = str(venv / "bin/python"), {"PATH": "/usr/bin:/bin"}
    assert subprocess.run([python, "-c", "import requests"], env=clean, capture_output=True).returncode == 1
    done = subprocess.run([python, str(artifact.path), "--once", "--no-kernel-log", "--state-file",
                           str(tmp_path / "s.json")], env=clean, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["agent_version"] == AGENT_VERSION and report["state"] == "unknown"  # no GPU here


def test_the_agent_and_what_it_bundles_run_on_ubuntu_2204s_python_310(artifact):
    agent = Path(nim_launcher.agent.__file__).parent
    check = subprocess.run([sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())",
                            "-t=3.10-", "--eval-annotations", "--no-tips", "--violations", "-p", "1", str(agent)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    archive = zipfile.ZipFile(artifact.path)
    for name in (n for n in archive.namelist() if n.endswith(".dist-info/METADATA")):
        requires = next((line.split(":", 1)[1].strip() for line in archive.read(name).decode().splitlines()
                         if line.startswith("Requires-Python:")), "")
        assert requires in ("", ">=3.7", ">=3.8", ">=3.9", ">=3.10"), f"{name}: Requires-Python {requires}"


def test_the_broker_serves_the_agent_at_its_public_url(anon_client, settings):
    settings.PUBLIC_BASE_URL = "https://broker.example"
    meta = anon_client.get("/api/v1/agent")
    assert meta.status_code == 200
    body = meta.json()
    assert set(body) == {"version", "url", "sha256"} and body["version"] == AGENT_VERSION
    assert body["url"].startswith("https://broker.example/api/v1/agent/gpu-broker-agent-")
    download = anon_client.get(body["url"].removeprefix("https://broker.example"))
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == body["sha256"]
    assert anon_client.get("/api/v1/agent/gpu-broker-agent-0.0.1-000000000000.pyz").status_code == 404


class _Broker(http.server.ThreadingHTTPServer):
    """Serves one file for any GET and counts heartbeats."""

    def __init__(self, payload: bytes):
        self.payload, self.heartbeats = payload, 0
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.payload)))
        self.end_headers()
        self.wfile.write(self.server.payload)

    def do_POST(self):  # noqa: N802
        self.server.heartbeats += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_download_that_does_not_match_the_plans_hash_never_starts(artifact, tmp_path):
    tampered = artifact.path.read_bytes() + b"\n"
    broker = _Broker(tampered)
    threading.Thread(target=broker.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{broker.server_port}"
    model = get_model(TINY_CHAT_MODEL)
    ctx = NodeContext(node_id=1, node_token="t", broker_url=url,
                      agent=AgentDownload(f"{url}/api/v1/agent/{artifact.filename}", artifact.sha256))
    (tmp_path / "user-data").write_text(render_cloud_init(model, model.profiles[0], ctx, ngc_api_key=""))
    root = tmp_path / "node"
    start_process(f"exec {sys.executable} -m providers.simulator.vm --root {root} --port 1 "
                  f"--user-data {tmp_path / 'user-data'}", state_dir=tmp_path, name="vm")
    try:
        log = tmp_path / "vm.log"
        deadline = time.monotonic() + 30
        while "user data finished" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "FAILED" in log.read_text() and "exit status 1" in log.read_text()
        assert (root / "opt/gpu-broker/download/gpu-broker-agent.pyz").read_bytes() == tampered
        assert not (root / "opt/gpu-broker/agent/gpu-broker-agent.pyz").exists()
        assert not (root / ".sim/run").exists() and broker.heartbeats == 0  # neither unit started
    finally:
        kill_group(tmp_path, "vm")
        broker.shutdown()
        broker.server_close()

