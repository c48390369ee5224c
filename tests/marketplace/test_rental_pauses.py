"""A stopped rental is not billed: cost and usage skip its pauses, to the second and per day."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from marketplace.models import Rental, RentalState
from marketplace.services.metering import rental_cost, usage_rows

T0 = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def _rental(workspace, pauses) -> Rental:
    return Rental.objects.create(workspace=workspace, request={}, request_hash="h", max_hours=Decimal(48),
                                 state=RentalState.RUNNING, running_since=T0, locked_price_per_hour=Decimal(2),
                                 pauses=[[a.isoformat(), b.isoformat() if b else None] for a, b in pauses])


def test_cost_skips_closed_and_open_pauses(owner):
    closed = _rental(owner.workspace, [(T0 + timedelta(hours=1), T0 + timedelta(hours=3))])
    assert rental_cost(closed, now=T0 + timedelta(hours=5)) == Decimal(2) * 3
    still_stopped = _rental(owner.workspace, [(T0 + timedelta(minutes=30), None)])
    assert rental_cost(still_stopped, now=T0 + timedelta(days=2)) == Decimal(1)


def test_usage_rows_split_running_hours_by_day_around_a_pause(owner):
    _rental(owner.workspace, [(T0 + timedelta(hours=2), T0 + timedelta(hours=6))])  # 22:00 → 02:00 stopped
    rows = usage_rows(owner.workspace, since=T0, until=T0 + timedelta(hours=10))
    assert [(r.day.isoformat(), r.hours, r.cost) for r in rows] == [
        ("2026-11-30", Decimal(2), Decimal(4)), ("2026-12-01", Decimal(4), Decimal(8))]
