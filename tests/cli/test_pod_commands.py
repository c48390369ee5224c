"""`brokerctl pod`: the create body, the ssh command line it execs, and its refusals."""

import pytest

from broker.cli.commands.pods import pod_body, ssh_argv
from broker.cli.errors import UsageError
from broker.cli.main import build_parser


def _args(tmp_path, *extra):
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINBttsaegY1Yd+Xuj7uAnFIIiH7jMeUZJC1/bSJ7xe2m me@laptop\n")
    return build_parser().parse_args(["pod", "create", "dev", "--gpu", "H100", "--ssh-public-key", str(key), *extra])


def test_create_sends_the_key_jupyter_and_idle_timeout(tmp_path):
    body = pod_body(_args(tmp_path, "--jupyter", "--idle-timeout", "15", "--jurisdiction", "EU"))
    assert body["name"] == "dev" and body["jupyter"] is True and body["idle_timeout_minutes"] == 15
    assert body["ssh_public_key"].startswith("ssh-ed25519 ") and body["gpu"] == "H100"
    assert body["policy"]["jurisdictions"] == ["EU"]


def test_a_private_key_file_is_refused_before_anything_is_sent(tmp_path):
    args = _args(tmp_path)
    args.ssh_public_key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(UsageError, match="private key"):
        pod_body(args)


def test_ssh_execs_the_pods_own_command_line_with_extra_arguments():
    pod = {"name": "dev", "state": "running", "ssh": "ssh -p 2222 ubuntu@203.0.113.9"}
    assert ssh_argv(pod, ["--", "-L", "8888:localhost:8888"]) == [
        "ssh", "-p", "2222", "ubuntu@203.0.113.9", "-L", "8888:localhost:8888"]
    with pytest.raises(UsageError, match="no SSH address"):
        ssh_argv({"name": "dev", "state": "provisioning", "ssh": None}, [])
