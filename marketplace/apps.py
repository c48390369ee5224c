from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from marketplace import (
            flows,  # noqa: F401  (registers the state flows)
            tasks,  # noqa: F401  (registered by name for marketplace.scheduling)
        )
        from marketplace.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
