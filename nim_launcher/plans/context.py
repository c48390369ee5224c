"""What a launch plan needs to know about the node it runs on."""

from dataclasses import dataclass, field

REDACTED = "<redacted>"
NIM_PORT = 8000
NIM_CACHE_IN_CONTAINER = "/opt/nim/.cache"


@dataclass(frozen=True)
class AgentDownload:
    """The broker's own node agent artifact: where nodes fetch it and the SHA-256 they check it against."""

    url: str
    sha256: str


@dataclass(frozen=True)
class NodeContext:
    node_id: int | str
    node_token: str = field(repr=False)
    broker_url: str
    agent: AgentDownload | None = None
    cache_dir: str = "/opt/nim/cache"
    spot_metadata_url: str = ""  # a spot node on a partner whose metadata announces interruptions (AWS)
