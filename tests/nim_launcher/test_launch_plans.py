"""A replica's node on a VM partner is sent the cloud-init plan with this broker's agent; its redacted copy
is what the node keeps for its owner to read."""

import pytest
import yaml

from marketplace.models import Node
from marketplace.secrets import encrypt_text
from marketplace.services.launch import render_user_data
from marketplace.services.node_health import node_token
from nim_launcher.models import Replica
from nim_launcher.plans import REDACTED
from nim_launcher.plans import cloud_init as layout
from nim_launcher.profiles import TINY_CHAT_MODEL
from nim_launcher.services.agent_artifact import agent_url, current_agent
from tests.marketplace.node_health_helpers import make_node
from tests.nim_launcher.conftest import make_deployment

NGC_KEY = "nvapi-unit-SECRET"


@pytest.fixture
def replica_node(owner):
    owner.workspace.ngc_api_key_encrypted = encrypt_text(NGC_KEY)
    owner.workspace.save(update_fields=["ngc_api_key_encrypted"])
    node = make_node(owner.workspace)
    Replica.objects.create(deployment=make_deployment(owner.workspace, "chat", model=TINY_CHAT_MODEL),
                           rental=node.rental)
    return node


def test_the_node_gets_the_brokers_agent_by_url_and_hash_and_keeps_the_plan_redacted(replica_node, settings):
    settings.PUBLIC_BASE_URL = "https://broker.example"
    sent = render_user_data(replica_node.rental, replica_node)

    artifact = current_agent()
    files = {f["path"]: f["content"] for f in yaml.safe_load(sent)["write_files"]}
    assert agent_url(artifact).startswith("https://broker.example/api/v1/agent/")
    assert f" {agent_url(artifact)}\n" in files[layout.BOOTSTRAP_SCRIPT]
    assert files[layout.AGENT_CHECKSUM_FILE].startswith(f"{artifact.sha256}  ")
    assert f"GPUB_NODE_ID={replica_node.pk}\n" in files[layout.AGENT_ENV_FILE]
    kept = Node.objects.get(pk=replica_node.pk).launch_plan
    token = node_token(replica_node)
    assert token in sent and NGC_KEY in sent
    assert kept == sent.replace(token, REDACTED).replace(NGC_KEY, REDACTED)
