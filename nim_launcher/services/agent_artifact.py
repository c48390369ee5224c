"""The node agent artifact this broker serves: built once per process into VAR_DIR/agent, never committed."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from nim_launcher.agent_dist import AgentArtifact, build_agent

_lock = threading.Lock()
_built: AgentArtifact | None = None


def current_agent() -> AgentArtifact:
    """The artifact of the code this process runs (built on first use; reproducible, so every process agrees)."""
    global _built
    with _lock:
        if _built is None or not _built.path.is_file():
            _built = build_agent(Path(settings.VAR_DIR) / "agent")
        return _built


def agent_url(artifact: AgentArtifact) -> str:
    """Where nodes download it: under PUBLIC_BASE_URL, the address nodes reach the broker at."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/agent/{artifact.filename}"
