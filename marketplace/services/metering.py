"""Metering and budgets: cost accrues per second from running to terminated at the locked price, except while
the rental is stopped (its `pauses`)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from marketplace.errors import OverBudget
from marketplace.hooks import rental_owners
from marketplace.models import Rental, RentalState, Workspace

CENT = Decimal("0.0001")


class BudgetExceeded(OverBudget):
    pass


def _hours(start: datetime, end: datetime) -> Decimal:
    return Decimal(max((end - start).total_seconds(), 0)) / Decimal(3600)


def _running_hours(rental: Rental, start: datetime, end: datetime) -> Decimal:
    """Hours in [start, end) the rental was not stopped."""
    if end <= start:
        return Decimal(0)
    paused = Decimal(0)
    for stopped, started in rental.pauses:
        paused += _hours(max(datetime.fromisoformat(stopped), start),
                         min(datetime.fromisoformat(started) if started else end, end))
    return _hours(start, end) - paused


def rental_cost(rental: Rental, *, now: datetime | None = None, since: datetime | None = None,
                until: datetime | None = None, price: Decimal | None = None) -> Decimal:
    """Cost of the rental's running time at its locked price (or `price`), optionally clipped to [since, until).

    Running time ends at `ended_at`: a preempted rental's is its preemption second, so nothing after it is billed.
    """
    price = rental.locked_price_per_hour if price is None else price
    if rental.running_since is None or price is None:
        return Decimal(0)
    start = max(rental.running_since, since) if since else rental.running_since
    end = rental.ended_at or now or timezone.now()
    if until:
        end = min(end, until)
    return (price * _running_hours(rental, start, end)).quantize(CENT) if end > start else Decimal(0)


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _billable(workspace: Workspace, since: datetime):
    return (Rental.objects.filter(workspace=workspace, running_since__isnull=False)
            .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since)))


def month_spend(workspace: Workspace, *, now: datetime | None = None) -> Decimal:
    now = now or timezone.now()
    start = month_start(now)
    return sum((rental_cost(r, now=now, since=start) for r in _billable(workspace, start)), Decimal(0))


def budget_check(workspace: Workspace, estimated_cost: Decimal, *, now: datetime | None = None) -> None:
    """Refuse a rental whose cost at max_hours does not fit what is left of this month's budget."""
    if workspace.monthly_budget is None:
        return
    remaining = workspace.monthly_budget - month_spend(workspace, now=now)
    if estimated_cost > remaining:
        raise BudgetExceeded(
            f"this rental may cost up to ${estimated_cost:.2f} (price × nodes × max_hours) but only "
            f"${max(remaining, Decimal(0)):.2f} of the ${workspace.monthly_budget:.2f} monthly budget is left; "
            f"lower max_hours or raise the budget")


@dataclass(frozen=True)
class UsageRow:
    day: date
    rental_id: int
    deployment: str
    partner: str
    hours: Decimal
    cost: Decimal
    spot: bool = False
    spot_savings: Decimal = Decimal(0)  # the same hours at the same offer's on-demand price, minus the cost
    owner_kind: str = ""  # what rents the node: "deployment", "job" … ("" for a plain rental)
    owner: str = ""  # its name


def usage_rows(workspace: Workspace, *, since: datetime, until: datetime) -> list[UsageRow]:
    """Cost per rental per UTC day between since and until (deployment name when a replica)."""
    rows = []
    rentals = list(_billable(workspace, since).filter(running_since__lt=until).select_related("partner"))
    owners = rental_owners([rental.pk for rental in rentals])
    for rental in rentals:
        owner = owners.get(rental.pk)
        deployment = owner.name if owner and owner.kind == "deployment" else ""
        day_start = max(rental.running_since, since).replace(hour=0, minute=0, second=0, microsecond=0)
        while day_start < min(rental.ended_at or until, until):
            day_end = day_start + timedelta(days=1)
            cost = rental_cost(rental, now=until, since=max(day_start, since), until=min(day_end, until))
            start = max(day_start, rental.running_since, since)
            end = min(day_end, rental.ended_at or until, until)
            rows.append(UsageRow(day_start.date(), rental.pk, deployment,
                                 rental.partner.slug if rental.partner else "",
                                 _running_hours(rental, start, end).quantize(CENT), cost,
                                 rental.spot, _savings(rental, cost, since=max(day_start, since),
                                                       until=min(day_end, until)),
                                 owner.kind if owner else "", owner.name if owner else ""))
            day_start = day_end
    return sorted(rows, key=lambda r: (r.day, r.rental_id))


def _savings(rental: Rental, cost: Decimal, *, since: datetime, until: datetime) -> Decimal:
    if not rental.spot or rental.on_demand_price_per_hour is None:
        return Decimal(0)
    on_demand = rental_cost(rental, now=until, since=since, until=until, price=rental.on_demand_price_per_hour)
    return max(on_demand - cost, Decimal(0))


def preemption_counts(workspace: Workspace, *, since: datetime, until: datetime) -> dict[str, int]:
    """Spot preemptions in [since, until) (a rental taken back, or announced and replaced ahead of it), and how
    many were recovered: a replacement placed by the owner (`replaces`) reached running."""
    lost = (Rental.objects.filter(workspace=workspace, spot=True)
            .filter(Q(state=RentalState.PREEMPTED) | Q(preempt_at__isnull=False))
            .filter(ended_at__gte=since, ended_at__lt=until))
    recovered = lost.filter(replaced_by__running_since__isnull=False).distinct().count()
    return {"preemptions": lost.count(), "recovered": recovered}


def usage_summary(rows: list[UsageRow]) -> dict:
    per_day, per_rental, per_deployment = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    for row in rows:
        per_day[row.day.isoformat()] += row.cost
        per_rental[row.rental_id] += row.cost
        if row.deployment:
            per_deployment[row.deployment] += row.cost
    return {"total": sum(per_day.values(), Decimal(0)), "per_day": dict(per_day),
            "per_rental": dict(per_rental), "per_deployment": dict(per_deployment),
            "spot_savings": sum((row.spot_savings for row in rows), Decimal(0))}
