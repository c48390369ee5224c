"""Celery tasks of the marketplace (imported here so the worker registers them all)."""

from . import health, rentals

__all__ = ["health", "rentals"]
