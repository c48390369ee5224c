"""`{{ offer.price_per_hour|usd }}` → `$27.44705`: prices at the precision the partner lists them."""

from django import template

from marketplace.money import format_price

register = template.Library()


@register.filter
def usd(value) -> str:
    """Dollars with at least two decimals and every further one the price has; `—` for an unknown price."""
    if value is None or value == "":
        return "—"
    return f"${format_price(value)}"
