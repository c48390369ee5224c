"""The plan as a shell script: the same files and commands as cloud-init runs from the `#cloud-config`."""

import subprocess

import pytest
import yaml

from nim_launcher.plans import AgentDownload, NodeContext, render_cloud_init
from nim_launcher.profiles import get_model
from providers.simulator import vm
from providers.user_data import shell_script

CONFIG = {
    "write_files": [
        {"path": "/etc/demo/deferred.conf", "content": "written after the others\n", "defer": True,
         "owner": "ubuntu:ubuntu", "permissions": "0600"},
        {"path": "/etc/demo/unit.service", "owner": "root:root", "permissions": "0644",
         "content": "[Service]\nExecStart=/opt/demo/bin/run --flag \"$HOME\" `date`\nGPUB_EOF\n"},
        {"path": "/opt/demo/no-newline", "content": "last line without newline\n\nsecond", "permissions": "0755"},
        {"path": "/opt/demo/empty", "content": ""},
        {"path": "/root/.ssh/authorized_keys", "content": "ssh-ed25519 AAAA user@laptop\n", "append": True},
    ],
    "runcmd": [
        ["sh", "-c", "cat /etc/demo/deferred.conf > /opt/demo/order"],
        "exit 7",
        ["sh", "-c", "echo still runs >> /opt/demo/order"],
        "false",
    ],
}


def _boot(tmp_path, name: str, user_data: str) -> tuple[int, dict[str, tuple[str, int]]]:
    root = tmp_path / name
    (root / "root/.ssh").mkdir(parents=True)
    (root / "root/.ssh/authorized_keys").write_text("ssh-rsa AAAA partner-key\n")
    status = vm.boot(root, "127.0.0.1", 9, user_data)
    written = {}
    for base in ("etc/demo", "opt/demo", "root/.ssh"):
        for path in (root / base).iterdir():
            content = path.read_text().replace(str(root), "")  # both boots' paths are below their own root
            written[path.relative_to(root).as_posix()] = (content, path.stat().st_mode & 0o777)
    return status, written


def test_the_script_writes_the_same_files_and_runs_the_same_commands_as_cloud_init(tmp_path):
    user_data = "#cloud-config\n" + yaml.safe_dump(CONFIG)
    script = shell_script(user_data)
    assert script.startswith("#!/bin/bash\n")

    cloud_init = _boot(tmp_path, "cloud-init", user_data)
    from_script = _boot(tmp_path, "script", script)

    assert from_script == cloud_init
    status, written = from_script
    assert status == 7  # the first failure's status; the commands after it ran
    assert written["opt/demo/order"][0] == "written after the others\nstill runs\n"
    assert written["opt/demo/no-newline"] == ("last line without newline\n\nsecond", 0o755)
    assert written["root/.ssh/authorized_keys"][0] == "ssh-rsa AAAA partner-key\nssh-ed25519 AAAA user@laptop\n"
    assert written["etc/demo/deferred.conf"][1] == 0o600


def test_a_node_plan_converts_to_a_valid_bash_script_with_every_file():
    agent = AgentDownload("https://broker.example/api/v1/agent/gpu-broker-agent.pyz", "ab" * 32)
    ctx = NodeContext(node_id=42, node_token="node-token", broker_url="https://broker.example", agent=agent)
    model = get_model("meta/llama-3.1-70b-instruct")
    plan = render_cloud_init(model, model.profile("tensorrt_llm-fp8-tp2"), ctx, ngc_api_key="nvapi-key")

    script = shell_script(plan)

    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    for entry in yaml.safe_load(plan)["write_files"]:
        assert entry["content"] in script and f"chmod {entry['permissions']} {entry['path']}" in script
    assert script.rstrip().endswith('exit "$status"')


def test_a_script_is_passed_through_and_keys_without_a_script_form_are_refused():
    assert shell_script("#!/bin/sh\necho hi\n") == "#!/bin/sh\necho hi\n"
    assert shell_script("") == ""
    with pytest.raises(ValueError, match="packages"):
        shell_script("#cloud-config\npackages: [curl]\n")
    with pytest.raises(ValueError, match="encoding"):
        shell_script("#cloud-config\nwrite_files: [{path: /x, content: eA==, encoding: b64}]\n")
