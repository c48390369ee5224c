"""The pod's node plan: the key for the login user, JupyterLab pinned by digest with its token only in a 0600
env file, and `cloud-init schema` accepts it."""

import shutil
import subprocess

import pytest
import yaml

from nim_launcher.plans import REDACTED
from nim_launcher.plans.cloud_init import render_node_plan
from nim_launcher.plans.context import AgentDownload, NodeContext
from pods import plans
from providers.simulator.node_shims import read_env_file

CTX = NodeContext(node_id=7, node_token="gpbn_node-SECRET", broker_url="https://broker.example",
                  agent=AgentDownload(url="https://broker.example/api/v1/agent/a.pyz", sha256="ab" * 32))
IMAGE = "docker.io/jupyter/base-notebook@sha256:" + "c" * 64
TOKEN = "gpbj_jupyter-SECRET"


def _plan(**kwargs) -> str:
    return render_node_plan(CTX, plans.pod_workload(**kwargs))


def _files(text: str) -> dict[str, dict]:
    return {f["path"]: f for f in yaml.safe_load(text)["write_files"]}


def test_the_key_goes_to_the_login_users_authorized_keys_with_its_owner_and_mode(key_pair):
    files = _files(_plan(user="ubuntu", ssh_public_key=key_pair[0]))
    keys = files["/home/ubuntu/.ssh/authorized_keys"]
    assert keys["content"] == key_pair[0] + "\n" and keys["owner"] == "ubuntu:ubuntu"
    assert keys["permissions"] == "0600" and keys["append"] is True and keys["defer"] is True
    assert "/root/.ssh/authorized_keys" in _files(_plan(user="root", ssh_public_key=key_pair[0]))
    assert not any("jupyter" in path for path in files)


def test_jupyter_runs_the_pinned_image_with_the_token_only_in_its_env_file(key_pair):
    sent = _plan(user="ubuntu", ssh_public_key=key_pair[0], jupyter_image=IMAGE, jupyter_token=TOKEN)
    files = _files(sent)
    env = files[plans.JUPYTER_ENV_FILE]
    assert env["permissions"] == "0600" and env["owner"] == "root:root"
    unit = files[f"/etc/systemd/system/{plans.JUPYTER_UNIT}"]["content"]
    assert f" {IMAGE}\n" in unit and TOKEN not in unit and f"-p {plans.JUPYTER_PORT}:{plans.JUPYTER_PORT}" in unit
    assert [f for f in files.values() if TOKEN in f["content"]] == [env]
    drop_in = files[plans.AGENT_JUPYTER_DROP_IN]["content"]
    assert f"EnvironmentFile=-{plans.JUPYTER_ENV_FILE}" in drop_in  # the agent reads the kernels with it
    redacted = render_node_plan(CTX, plans.pod_workload(user="ubuntu", ssh_public_key=key_pair[0],
                                                        jupyter_image=IMAGE, jupyter_token=TOKEN), redacted=True)
    assert redacted == sent.replace(TOKEN, REDACTED).replace(CTX.node_token, REDACTED)


def test_the_env_file_reads_back_as_systemd_and_docker_read_it(tmp_path, key_pair):
    files = _files(_plan(user="ubuntu", ssh_public_key=key_pair[0], jupyter_image=IMAGE, jupyter_token=TOKEN))
    path = tmp_path / "jupyter.env"
    path.write_text(files[plans.JUPYTER_ENV_FILE]["content"])
    assert read_env_file(path) == {"JUPYTER_TOKEN": TOKEN, "GPUB_JUPYTER_URL": "http://127.0.0.1:8888"}


def test_cloud_init_schema_accepts_the_pod_plans(tmp_path, key_pair):
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        pytest.skip("needs the cloud-init binary (apt-get install cloud-init)")
    path = tmp_path / "pod.yaml"
    path.write_text(_plan(user="ubuntu", ssh_public_key=key_pair[0], jupyter_image=IMAGE, jupyter_token=TOKEN))
    done = subprocess.run([cloud_init, "schema", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Valid cloud-config" in done.stdout, done.stdout + done.stderr
