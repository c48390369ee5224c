"""Launch plans: cloud-init user data and local process argv."""

import os
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from nim_launcher.agent import cli
from nim_launcher.plans import (
    REDACTED,
    AgentDownload,
    NodeContext,
    local_process_plan,
    render_cloud_init,
)
from nim_launcher.plans import cloud_init as layout
from nim_launcher.profiles import TINY_CHAT_MODEL, get_model
from providers.simulator.node_shims import read_env_file

NGC_KEY = "nvapi-SECRET-ngc-value-123"
NODE_TOKEN = "node-token-SECRET-456"
AGENT = AgentDownload("https://broker.example/api/v1/agent/gpu-broker-agent-0.2.0-abc.pyz", "ab" * 32)
CTX = NodeContext(node_id=42, node_token=NODE_TOKEN, broker_url="https://broker.example", agent=AGENT)
MODEL = get_model("meta/llama-3.1-70b-instruct")
PROFILE = MODEL.profile("tensorrt_llm-fp8-tp2")


def _files(user_data: str) -> dict[str, dict]:
    return {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}


def _env_file(tmp_path, content: str) -> dict[str, str]:
    """Read as systemd and `docker --env-file` read it (the simulated VM's reader)."""
    path = tmp_path / "env"
    path.write_text(content)
    return read_env_file(path)


def _exec_start(unit: str) -> list[str]:
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_the_agents_own_parser_reads_the_rendered_unit_and_env_file(tmp_path):
    files = _files(render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY))
    unit = files[f"{layout.UNIT_DIR}/{layout.AGENT_UNIT}"]["content"]
    assert f"EnvironmentFile={layout.AGENT_ENV_FILE}" in unit
    env_file = files[layout.AGENT_ENV_FILE]
    assert (env_file["owner"], env_file["permissions"]) == ("root:root", "0600")
    python, zipapp, *argv = _exec_start(unit)
    assert (python, zipapp) == (f"{layout.AGENT_VENV}/bin/python", layout.AGENT_ZIPAPP)

    args = cli.parse_args(argv, environ=_env_file(tmp_path, env_file["content"]))

    assert (args.broker, args.node_id, args.node_token) == ("https://broker.example", "42", NODE_TOKEN)
    assert str(args.state_file) == layout.AGENT_STATE_FILE
    assert NODE_TOKEN not in unit and NODE_TOKEN not in files[layout.BOOTSTRAP_SCRIPT]["content"]


def test_the_plan_installs_the_brokers_agent_by_its_hash_never_a_package_by_name():
    user_data = render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY)
    files = _files(user_data)
    script = files[layout.BOOTSTRAP_SCRIPT]["content"]
    assert f"-o {layout.AGENT_DOWNLOAD} {AGENT.url}" in script
    assert files[layout.AGENT_CHECKSUM_FILE]["content"] == f"{AGENT.sha256}  {layout.AGENT_DOWNLOAD}\n"
    lines = script.splitlines()
    order = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in (
        "set -euo pipefail", "curl ", f"sha256sum --check --strict --quiet {layout.AGENT_CHECKSUM_FILE}",
        f"python3 -m venv --without-pip {layout.AGENT_VENV}", f"install -m 0644 {layout.AGENT_DOWNLOAD} {layout.AGENT_ZIPAPP}",
        f"systemctl enable --now {layout.AGENT_UNIT}", f"systemctl enable --now {layout.NIM_UNIT}")]
    assert order == sorted(order)  # nothing runs before the hash is checked, and the agent before the NIM
    assert not re.search(r"\bpip3? install|\buv (pip|tool)|\bpipx\b|easy_install", user_data)
    assert yaml.safe_load(user_data)["runcmd"] == [["bash", layout.BOOTSTRAP_SCRIPT]]


def test_cloud_init_runs_the_nim_container_with_the_key_from_a_root_only_file(tmp_path):
    files = _files(render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY))
    nim_env = files[layout.NIM_ENV_FILE]
    assert (nim_env["owner"], nim_env["permissions"]) == ("root:root", "0600")
    assert _env_file(tmp_path, nim_env["content"]) == {
        "NGC_API_KEY": NGC_KEY, "NIM_MODEL_PROFILE": "tensorrt_llm-fp8-tp2",
        "NIM_SERVED_MODEL_NAME": "meta/llama-3.1-70b-instruct"}
    unit = files[f"{layout.UNIT_DIR}/{layout.NIM_UNIT}"]["content"]
    assert _exec_start(unit) == [
        "/usr/bin/docker", "run", "--rm", "--name", "gpu-broker-nim", "--gpus", "all", "--shm-size", "16g",
        "--env-file", layout.NIM_ENV_FILE, "-v", "/opt/nim/cache:/opt/nim/.cache", "-p", "8000:8000",
        "nvcr.io/nim/meta/llama-3.1-70b-instruct:1.8.4"]
    script = files[layout.BOOTSTRAP_SCRIPT]["content"]
    assert "docker login nvcr.io --username '$oauthtoken' --password-stdin" in script
    secret_free = [f for path, f in files.items() if path not in (layout.NIM_ENV_FILE,)]
    assert all(NGC_KEY not in f["content"] for f in secret_free)  # the key reaches docker only from its file


def test_redacted_cloud_init_is_the_plan_as_sent_with_each_secret_replaced():
    sent = render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY)
    redacted = render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY, redacted=True)
    assert NGC_KEY not in redacted and NODE_TOKEN not in redacted
    assert redacted == sent.replace(NGC_KEY, REDACTED).replace(NODE_TOKEN, REDACTED)
    assert NODE_TOKEN not in repr(CTX)


def test_the_plan_fits_the_smallest_user_data_limit():
    user_data = render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY)
    assert len(user_data.encode()) < 16 * 1024  # EC2 takes at most 16 KB of user data


def test_a_multi_line_secret_is_refused_rather_than_written_as_two_settings():
    with pytest.raises(ValueError, match="NGC_API_KEY"):
        render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key="nvapi-x\nLD_PRELOAD=/tmp/x.so")


def _rendered_plans() -> list[tuple[str, str]]:
    """Every shape the renderer has: an NGC image (with a registry login) and a built-in model, each sent
    and redacted. Models differ otherwise only in names, and each `cloud-init schema` run takes a second."""
    plans = []
    for model in (MODEL, get_model(TINY_CHAT_MODEL)):
        for redacted in (False, True):
            name = f"{model.id.replace('/', '_')}{'-redacted' if redacted else ''}.yaml"
            plans.append((name, render_cloud_init(model, model.profiles[0], CTX, ngc_api_key=NGC_KEY,
                                                  redacted=redacted)))
    return plans


def test_cloud_init_schema_accepts_every_rendered_plan(tmp_path):
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must have Debian's cloud-init package (apt-get install cloud-init)")
        pytest.skip("needs the cloud-init binary (apt-get install cloud-init)")
    paths = []
    for name, text in _rendered_plans():
        paths.append(tmp_path / name)
        paths[-1].write_text(text)

    def schema(path):
        return subprocess.run([cloud_init, "schema", "-c", str(path)], capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(schema, paths))
    failures = {p.name: r.stdout + r.stderr for p, r in zip(paths, results, strict=True) if r.returncode}
    assert not failures
    assert all("Valid cloud-config" in r.stdout for r in results)


def test_systemd_accepts_both_units(tmp_path):
    """`systemd-analyze verify`: only the binaries that exist on the node alone (docker, the venv) may be missing."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze")
    files = _files(render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY))
    units = []
    for unit in (layout.AGENT_UNIT, layout.NIM_UNIT):
        units.append(tmp_path / unit)
        units[-1].write_text(files[f"{layout.UNIT_DIR}/{unit}"]["content"])
    done = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and "is not executable: No such file or directory" not in line]
    assert not problems


def test_local_plan_starts_the_runtime_on_the_port_with_the_delay():
    plan = local_process_plan(get_model("gpu-broker/tiny-cpu-chat"), port=9123, startup_delay=2.5,
                              python="/usr/bin/python3")
    assert plan.argv == ["/usr/bin/python3", "-m", "nim_launcher.runtime", "--host", "127.0.0.1", "--port", "9123",
                         "--model", "gpu-broker/tiny-cpu-chat", "--startup-delay", "2.5"]
    assert plan.endpoint == "http://127.0.0.1:9123"
    assert plan.command_line.startswith("/usr/bin/python3 -m nim_launcher.runtime")
