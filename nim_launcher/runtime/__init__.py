"""A local NIM-compatible inference server backed by the built-in CPU models."""

from .app import RuntimeApp

__all__ = ["RuntimeApp"]
