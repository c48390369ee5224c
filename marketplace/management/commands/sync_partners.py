from django.core.management.base import BaseCommand, CommandError

from marketplace.models import Partner
from marketplace.services.partners import partner_sync, partners_to_sync


class Command(BaseCommand):
    help = "Pull offers (prices, live capacity) from every live partner now, or from the named ones."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="partner slugs (default: every active or verified live partner)")

    def handle(self, *args, slugs, **options):
        partners = Partner.objects.filter(slug__in=slugs) if slugs else Partner.objects.filter(pk__in=partners_to_sync())
        missing = set(slugs) - set(partners.values_list("slug", flat=True))
        if missing:
            raise CommandError(f"unknown partner(s): {', '.join(sorted(missing))}")
        for partner in partners.order_by("slug"):
            report = partner_sync(partner=partner)
            if report.ok:
                self.stdout.write(f"{partner.slug}: {report.created} new, {report.updated} updated, "
                                  f"{report.removed} removed, {report.price_changes} price changes")
            else:
                self.stdout.write(self.style.WARNING(f"{partner.slug}: not answering ({report.error}); "
                                                     f"its offers are marked stale"))
