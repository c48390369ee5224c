from django.conf import settings
from django.core.management.base import BaseCommand

from marketplace.catalog.skypilot import parse_catalog
from marketplace.catalog.snapshot import write_snapshot


class Command(BaseCommand):
    help = "Regenerate the bundled catalogue snapshot from a SkyPilot-layout directory."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=settings.CATALOG_DIR)

    def handle(self, *args, directory, **options):
        parsed = parse_catalog(directory)
        path = write_snapshot(parsed)
        self.stdout.write(f"wrote {len(parsed.offers)} offers to {path} ({path.stat().st_size} bytes)")
