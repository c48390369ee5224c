"""Launch plans: cloud-init user data and local process argv."""

import yaml

from nim_launcher.plans import (
    REDACTED,
    NodeContext,
    local_process_plan,
    render_cloud_init,
)
from nim_launcher.plans.cloud_init import NGC_ENV_FILE
from nim_launcher.profiles import get_model

NGC_KEY = "nvapi-SECRET-ngc-value-123"
NODE_TOKEN = "node-token-SECRET-456"
CTX = NodeContext(node_id=42, node_token=NODE_TOKEN, broker_url="https://broker.example")
MODEL = get_model("meta/llama-3.1-70b-instruct")
PROFILE = MODEL.profile("tensorrt_llm-fp8-tp2")


def _files(user_data: str) -> dict[str, dict]:
    return {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}


def test_cloud_init_runs_the_nim_container_with_the_key_from_a_root_only_file():
    user_data = render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY)
    assert user_data.startswith("#cloud-config\n")
    files = _files(user_data)
    assert files[NGC_ENV_FILE]["permissions"] == "0600" and files[NGC_ENV_FILE]["owner"] == "root:root"
    assert files[NGC_ENV_FILE]["content"] == f"NGC_API_KEY={NGC_KEY}\n"
    script = files["/opt/gpu-broker/start-nim.sh"]["content"]
    assert ("docker run -d --name nim --restart unless-stopped --gpus all --shm-size 16g -e NGC_API_KEY "
            "-e NIM_MODEL_PROFILE=tensorrt_llm-fp8-tp2 -v /opt/nim/cache:/opt/nim/.cache -p 8000:8000 "
            "nvcr.io/nim/meta/llama-3.1-70b-instruct:1.8.4") in script
    assert NGC_KEY not in script  # the key reaches docker only by name, through the environment


def test_cloud_init_starts_the_node_agent_with_broker_and_token():
    files = _files(render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY))
    unit = files["/etc/systemd/system/gpu-broker-agent.service"]["content"]
    assert "-m nim_launcher.agent --broker https://broker.example --node-token ${NODE_TOKEN}" in unit
    assert files["/etc/gpu-broker/agent.env"]["content"].startswith(f"NODE_TOKEN={NODE_TOKEN}\n")
    runcmd = yaml.safe_load(render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY))["runcmd"]
    assert ["systemctl", "enable", "--now", "gpu-broker-agent.service"] in runcmd


def test_redacted_cloud_init_hides_every_secret_but_keeps_the_shape():
    redacted = render_cloud_init(MODEL, PROFILE, CTX, ngc_api_key=NGC_KEY, redacted=True)
    assert NGC_KEY not in redacted and NODE_TOKEN not in redacted
    assert _files(redacted)[NGC_ENV_FILE]["content"] == f"NGC_API_KEY={REDACTED}\n"
    assert NODE_TOKEN not in repr(CTX)


def test_local_plan_starts_the_runtime_on_the_port_with_the_delay():
    plan = local_process_plan(get_model("gpu-broker/tiny-cpu-chat"), port=9123, startup_delay=2.5,
                              python="/usr/bin/python3")
    assert plan.argv == ["/usr/bin/python3", "-m", "nim_launcher.runtime", "--host", "127.0.0.1", "--port", "9123",
                         "--model", "gpu-broker/tiny-cpu-chat", "--startup-delay", "2.5"]
    assert plan.endpoint == "http://127.0.0.1:9123"
    assert plan.command_line.startswith("/usr/bin/python3 -m nim_launcher.runtime")
