"""Reads: the one place ORM rows become the snapshots pure code computes on."""
