"""The agent's activity reading: sshd session processes from /proc, kernels from Jupyter's own API."""

import os
import threading

import pytest

from nim_launcher.agent.activity import JupyterServer, kernel_summary, read_activity, ssh_sessions
from nim_launcher.agent.readings import GpuReading
from providers.simulator.jupyter_double import make_server


def _proc(tmp_path, titles: dict[int, bytes]):
    for pid, title in titles.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(title)
    (tmp_path / "self").mkdir()
    return tmp_path


def test_ssh_sessions_are_the_unprivileged_sshd_session_processes(tmp_path):
    proc = _proc(tmp_path, {1: b"/sbin/init\0", 10: b"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\0",
                            20: b"sshd: ubuntu [priv]\0", 21: b"sshd: ubuntu@pts/0\0", 30: b"sshd-session: root@notty\0",
                            40: b"bash\0-l\0"})
    assert ssh_sessions(proc) == 2


def test_kernel_summary_counts_busy_kernels_and_the_latest_activity():
    kernels = [{"execution_state": "idle", "last_activity": "2026-12-01T10:00:00Z"},
               {"execution_state": "busy", "last_activity": "2026-12-01T11:00:00Z"}]
    assert kernel_summary(kernels) == {"jupyter_kernels": 2, "jupyter_busy_kernels": 1,
                                       "jupyter_last_activity": "2026-12-01T11:00:00Z"}


@pytest.fixture
def jupyter():
    server = make_server("127.0.0.1", 0, "tok-123")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_agent_reads_kernels_with_the_token_from_its_environment(jupyter, tmp_path):
    import requests

    requests.post(f"{jupyter}/api/kernels", json={"name": "python3"}, headers={"Authorization": "token tok-123"},
                  timeout=2).raise_for_status()
    server = JupyterServer.from_environ({"GPUB_JUPYTER_URL": jupyter, "JUPYTER_TOKEN": "tok-123"})
    activity = read_activity([GpuReading(index=0, gpu_utilization_pct=3)], server, proc=_proc(tmp_path, {}))
    assert activity["jupyter_kernels"] == 1 and activity["jupyter_busy_kernels"] == 0
    assert activity["jupyter_last_activity"] and activity["ssh_sessions"] == 0
    assert activity["gpu_utilization_pct"] == 3 and activity["errors"] == []


def test_a_wrong_token_is_an_error_not_a_crash(jupyter, tmp_path):
    activity = read_activity([], JupyterServer(jupyter, "wrong"), proc=_proc(tmp_path, {}))
    assert activity["jupyter_kernels"] is None and activity["errors"] == ["jupyter: HTTPError"]
    assert JupyterServer.from_environ(dict(os.environ) | {"GPUB_JUPYTER_URL": ""}) is None


def test_a_kernel_made_busy_on_the_double_counts_until_it_is_interrupted(jupyter, tmp_path):
    import requests

    auth = {"Authorization": "token tok-123"}
    kernel = requests.post(f"{jupyter}/api/kernels", json={}, headers=auth, timeout=2).json()
    server, proc = JupyterServer(jupyter, "tok-123"), _proc(tmp_path, {})
    assert requests.post(f"{jupyter}/api/kernels/{kernel['id']}/execute", timeout=2).status_code == 403
    assert requests.post(f"{jupyter}/api/kernels/{kernel['id']}/execute", headers=auth, timeout=2).status_code == 200
    assert read_activity([], server, proc=proc)["jupyter_busy_kernels"] == 1
    assert requests.post(f"{jupyter}/api/kernels/{kernel['id']}/interrupt", headers=auth, timeout=2).status_code == 204
    idle = read_activity([], server, proc=proc)
    assert idle["jupyter_busy_kernels"] == 0 and idle["jupyter_last_activity"] >= kernel["last_activity"]
    assert requests.post(f"{jupyter}/api/kernels/none/interrupt", headers=auth, timeout=2).status_code == 404
