"""The node agent as one self-contained zipapp: `nim_launcher.agent` plus the pure-Python packages it imports.

Nodes run it with their own Python (3.10+) in an empty virtualenv, so nothing is ever resolved by
name on a public index. The build is byte-for-byte reproducible (sorted entries, fixed timestamps,
no compiled modules), so every broker process computes the same SHA-256 for the same code, and a
plan rendered by a worker verifies against the file the web process serves. No Django here.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from nim_launcher.agent import AGENT_VERSION

# distribution → the top-level modules the agent imports from it
VENDORED = {
    "requests": ("requests",), "urllib3": ("urllib3",), "idna": ("idna",), "certifi": ("certifi",),
    "charset-normalizer": ("charset_normalizer",), "nvidia-ml-py": ("pynvml",),
}
AGENT_DIR = Path(__file__).with_name("agent")
AGENT_SUFFIXES = (".py", ".csv")
SKIP_SUFFIXES = (".so", ".pyd", ".dylib", ".pyc")
DIST_INFO_KEEP = ("METADATA", "LICENSE", "NOTICE", "COPYING", "AUTHORS")
SHEBANG = b"#!/usr/bin/env python3\n"
MAIN = "from nim_launcher.agent.cli import main\n\nraise SystemExit(main())\n"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AgentArtifact:
    version: str
    filename: str
    sha256: str
    path: Path


def _entries() -> dict[str, bytes]:
    entries = {"__main__.py": MAIN.encode(), "nim_launcher/__init__.py": b""}
    for path in AGENT_DIR.rglob("*"):
        if path.is_file() and path.suffix in AGENT_SUFFIXES and "__pycache__" not in path.parts:
            entries[f"nim_launcher/agent/{path.relative_to(AGENT_DIR).as_posix()}"] = path.read_bytes()
    for dist_name, modules in VENDORED.items():
        dist = metadata.distribution(dist_name)
        for file in dist.files or ():
            entry = PurePosixPath(file.as_posix())
            if _wanted(entry, modules):
                entries[str(entry)] = Path(dist.locate_file(file)).read_bytes()
    return entries


def _wanted(entry: PurePosixPath, modules: tuple[str, ...]) -> bool:
    if "__pycache__" in entry.parts or entry.suffix in SKIP_SUFFIXES or entry.parts[0] == "..":
        return False
    if entry.parts[0].endswith(".dist-info"):
        return entry.name.upper().startswith(DIST_INFO_KEEP)
    return entry.parts[0] in modules or entry.name in {f"{m}.py" for m in modules}


def build_bytes() -> bytes:
    """The zipapp's bytes: a shebang line, then a zip with `__main__.py` at its root."""
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(_entries().items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def build_agent(dest_dir: Path) -> AgentArtifact:
    """Build into `dest_dir` (kept when a file of the same content is already there); return its identity."""
    data = build_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    filename = f"gpu-broker-agent-{AGENT_VERSION}-{sha256[:12]}.pyz"
    path = dest_dir / filename
    if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256):
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest_dir / f".{filename}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.chmod(0o644)
        tmp.replace(path)
    return AgentArtifact(AGENT_VERSION, filename, sha256, path)
