"""Celery tasks of the marketplace (imported here so the worker registers them all)."""

from . import health, partners, rentals

__all__ = ["health", "partners", "rentals"]
