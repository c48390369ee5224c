from django.core.management.base import BaseCommand, CommandError

from marketplace.catalog.importer import import_parsed
from marketplace.catalog.skypilot import parse_catalog
from marketplace.catalog.snapshot import load_snapshot


class Command(BaseCommand):
    help = "Import a GPU catalogue in the SkyPilot layout (<cloud>/vms.csv), or the bundled snapshot."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", help="catalogue directory (e.g. ../shared/catalog/skypilot)")
        parser.add_argument("--snapshot", action="store_true", help="import the snapshot bundled in the repository")

    def handle(self, *args, directory=None, snapshot=False, **options):
        if bool(directory) == bool(snapshot):
            raise CommandError("give a catalogue DIRECTORY or --snapshot (exactly one)")
        try:
            parsed = load_snapshot() if snapshot else parse_catalog(directory)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        report = import_parsed(parsed)
        self.stdout.write(f"offers: {report.created} created, {report.updated} updated, "
                          f"{report.unchanged} unchanged, {report.removed} removed; "
                          f"{report.price_changes} price changes recorded")
        for partner, gpus in sorted(report.per_partner.items()):
            listing = ", ".join(f"{gpu} {count}" for gpu, count in sorted(gpus.items()))
            self.stdout.write(f"  {partner}: {sum(gpus.values())} offers ({listing})")
        if report.problems:
            self.stdout.write(self.style.WARNING(f"{report.problems} rows could not be imported; first examples:"))
            for problem in report.problem_examples:
                self.stdout.write(f"  {problem.partner}/vms.csv line {problem.line}: {problem.reason}")
