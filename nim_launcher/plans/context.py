"""What a launch plan needs to know about the node it runs on."""

from dataclasses import dataclass, field

REDACTED = "<redacted>"
NIM_PORT = 8000
NIM_CACHE_IN_CONTAINER = "/opt/nim/.cache"


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives (a Kubernetes Secret, a vault path): a name, never the value."""

    name: str
    key: str = "NGC_API_KEY"


@dataclass(frozen=True)
class NodeContext:
    node_id: int | str
    node_token: str = field(repr=False)
    broker_url: str
    ngc_key_ref: SecretRef = SecretRef("ngc-api-key")
    cache_dir: str = "/opt/nim/cache"
    agent_package: str = "gpu-broker"
    image_pull_secret: str = "ngc-registry"
