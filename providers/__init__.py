"""Adapters to partner clouds: one class per adapter kind behind `providers.base.ProviderAdapter`."""
