"""Catalogue read endpoints: GPUs, partners, offers."""
