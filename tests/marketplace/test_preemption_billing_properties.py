"""No preempted node is billed after its preemption second, whatever the partner reports and whenever it is read."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.models import Rental
from marketplace.services.metering import rental_cost
from marketplace.services.preemption import preemption_second

START = datetime(2026, 12, 1, tzinfo=UTC)
seconds = st.integers(min_value=0, max_value=7 * 24 * 3600)


@settings(max_examples=300, deadline=None)
@given(run_s=seconds, taken_s=seconds, detected_after_s=seconds, reported_offset_s=st.none() | st.integers(-3600, 3600),
       notice_offset_s=st.none() | st.integers(-3600, 3600), read_after_s=seconds,
       price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("200"), places=2))
def test_billing_stops_at_the_preemption_second(run_s, taken_s, detected_after_s, reported_offset_s, notice_offset_s,
                                                read_after_s, price):
    running_since = START + timedelta(seconds=run_s)
    taken = running_since + timedelta(seconds=taken_s)  # when the partner took the node back
    now = taken + timedelta(seconds=detected_after_s)  # when the broker learnt it
    reported = None if reported_offset_s is None else taken + timedelta(seconds=reported_offset_s)
    notice = None if notice_offset_s is None else taken + timedelta(seconds=notice_offset_s)
    rental = Rental(running_since=running_since, locked_price_per_hour=price, preempt_at=notice)
    at = preemption_second(rental, reported, now=now)
    assert running_since <= at <= now  # never in the future, never before it ran
    if reported is not None and running_since <= reported <= now:
        assert at == reported  # the partner's own second wins
    rental.ended_at = at
    later = now + timedelta(seconds=read_after_s)
    billed = rental_cost(rental, now=later)
    assert billed == rental_cost(rental, now=at)  # reading it later bills nothing more
    hours = Decimal((at - running_since).total_seconds()) / Decimal(3600)
    assert billed == (price * hours).quantize(Decimal("0.0001"))  # exactly the running time up to that second
