"""The simulator's own code on a child's path: simulated VMs and their shims run from this checkout."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def pythonpath() -> str:
    """This checkout first, whatever the child's working directory (a VM runs in its node's root)."""
    return os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
