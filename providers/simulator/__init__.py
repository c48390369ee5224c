"""Simulated partner clouds on loopback: the Partner API and a Lambda-shaped API over one SQLite state."""

from .server import SimulatorServer
from .store import Faults, SimError, Store

__all__ = ["Faults", "SimError", "SimulatorServer", "Store"]
