"""Usage: cost per day and per rental/deployment over a period, month spend against the budget, CSV export."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from marketplace.charts import BarGroup, bar_chart
from marketplace.services.metering import UsageRow, month_spend, preemption_counts, usage_rows, usage_summary

from .access import workspace_required

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
TOP_CONSUMERS = 15


def cost_by_consumer(rows: list[UsageRow]) -> list[tuple[str, Decimal]]:
    """Cost per deployment (all its replicas' rentals together) or per plain rental; most expensive first."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[f"deployment {row.deployment}" if row.deployment else f"rental {row.rental_id}"] += row.cost
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _bars(pairs, title: str) -> str:
    groups = [BarGroup(label, (float(cost),)) for label, cost in pairs]
    return mark_safe(bar_chart(groups, series=("cost (USD)",), title=title))  # charts escape all text


def budget_context(workspace, now) -> dict:
    spent, budget = month_spend(workspace, now=now), workspace.monthly_budget
    share = None if not budget else min(float(spent / budget), 1.0)
    return {"month_spent": spent, "budget": budget, "budget_share": share,
            "budget_left": None if budget is None else max(budget - spent, Decimal(0))}


@workspace_required()
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    days = int(request.GET.get("days", DEFAULT_DAYS)) if request.GET.get("days", "").isdigit() else DEFAULT_DAYS
    days = days if days in PERIODS else DEFAULT_DAYS
    workspace, now = request.access.workspace, timezone.now()
    since = now - timedelta(days=days)
    rows = usage_rows(workspace, since=since, until=now)
    summary = usage_summary(rows)
    per_day = sorted(summary["per_day"].items())
    consumers = cost_by_consumer(rows)
    return render(request, "marketplace/usage.html", {
        "days": days, "periods": PERIODS, "since": since, "until": now, "total": summary["total"],
        "per_day": per_day, "consumers": consumers, "rows": rows, "spot_savings": summary["spot_savings"],
        "preemptions": preemption_counts(workspace, since=since, until=now),
        "day_chart": _bars(per_day, f"Cost per day, last {days} days"),
        "consumer_chart": _bars(consumers[:TOP_CONSUMERS], "Cost per deployment and rental"),
        "csv_url": f"{reverse('usage')}?{urlencode({'format': 'csv', 'since': since.date().isoformat()})}",
        **budget_context(workspace, now),
    })

