"""Budget enforcement: a warning once a month at the warning share, running rentals stopped at 100 %."""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from marketplace.models import Rental, RentalState, Workspace
from marketplace.services.metering import month_spend, month_start
from marketplace.services.rentals import rental_terminate
from marketplace.states import record_event


def budget_enforce(*, now: datetime | None = None) -> dict[str, int]:
    """Warn once a month at the warning share of the budget; at 100 % terminate running rentals."""
    now = now or timezone.now()
    warned = stopped = 0
    for workspace in Workspace.objects.filter(monthly_budget__isnull=False):
        running = list(Rental.objects.filter(workspace=workspace, state=RentalState.RUNNING))
        if not running:
            continue
        spent, budget = month_spend(workspace, now=now), workspace.monthly_budget
        if spent >= budget:
            for rental in running:
                rental_terminate(rental, reason=f"monthly budget ${budget:.2f} reached (spent ${spent:.2f})",
                                 actor="budget")
                stopped += 1
        elif spent >= budget * Decimal(str(settings.BUDGET_WARN_FRACTION)):
            start = month_start(now)
            for rental in running:
                if rental.budget_warned_at is None or rental.budget_warned_at < start:
                    record_event(rental, f"budget warning: ${spent:.2f} of ${budget:.2f} spent this month "
                                         f"({spent / budget:.0%})", actor="budget")
                    Rental.objects.filter(pk=rental.pk).update(budget_warned_at=now)
                    warned += 1
    return {"warned": warned, "terminated": stopped}
