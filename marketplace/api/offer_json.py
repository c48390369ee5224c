"""The offers list's JSON, assembled from per-offer fragments rendered once per catalogue version.

Rendering an offer (a dict, then the JSON encoder) was most of an offers request's CPU. Everything of an
offer but its live capacity only changes with the catalogue version, so the listing of that version keeps
each offer's JSON once rendered, split around `available_nodes`; a page joins those fragments with the
capacities read live. Every query still filters, orders, counts and pages: only the rendering is reused.
A fragment is formatted field by field (a few microseconds) rather than through a dict and the encoder; the
bytes are exactly what JSONRenderer gives for the database rows (a hypothesis test compares them with
the ORM's rows rendered so).
"""

import json
from functools import lru_cache

from rest_framework.renderers import JSONRenderer

from marketplace.money import PRICE_PLACES
from marketplace.offer_listing import MISSING_PRICE, OfferListing
from marketplace.selectors.offer_list import live_capacity

# Rendered offers kept per listing (~0.6 kB each, so at most ~60 MB); beyond this they are dropped and
# rendered again on use.
MAX_RENDERED_OFFERS = 100_000
_UNITS = 10 ** PRICE_PLACES  # the listing's prices are whole millionths
_renderer = JSONRenderer()


def offer_json_rows(listing: OfferListing, rows: list[int]) -> list[bytes]:
    """The JSON of each row's offer, capacity read live (one primary-key read for the page)."""
    rendered = listing.rendered
    fragments = []
    for i in rows:
        fragment = rendered.get(i)
        if fragment is None:
            if len(rendered) >= MAX_RENDERED_OFFERS:
                rendered.clear()
            fragment = rendered[i] = _fragment(listing, i)
        fragments.append(fragment)
    capacity = live_capacity([fragment[0] for fragment in fragments])
    out = []
    for offer_id, available, head, tail in fragments:
        nodes = capacity.get(offer_id, available)
        out.append(head + (b"null" if nodes is None else str(nodes).encode()) + tail)
    return out


def _fragment(listing: OfferListing, i: int) -> tuple[int, int | None, bytes, bytes]:
    """(id, snapshot capacity, JSON before the capacity value, JSON after it), formatted field by field:
    the contract's keys in its order, each value as the JSON encoder writes it (the listed fields straight
    from the listing's columns: no per-row objects in between)."""
    offer = listing.snapshots[i]
    status, reason = listing.price_status.values[listing.price_status.codes[i]]
    per_gpu = int(listing.price_per_gpu_hour[i])
    head = (f'{{"id":{offer.id},"partner":{_text(offer.partner)},"region":{_text(offer.region)},'
            f'"country":{_text(listing.country.values[listing.country.codes[i]])},'
            f'"jurisdiction":{_text(listing.jurisdiction.values[listing.jurisdiction.codes[i]])},'
            f'"instance_type":{_text(offer.instance_type)},"gpu":{_text(offer.gpu)},'
            f'"gpu_memory_gb":{int(listing.gpu_memory_gb[i])},'
            f'"form_factor":{_text(listing.form_factor.values[listing.form_factor.codes[i]])},'
            f'"gpus_per_node":{int(offer.gpus_per_node)},"vcpus":{_number(offer.vcpus)},'
            f'"memory_gb":{_number(offer.memory_gb)},"interconnect":{_text(offer.interconnect)},"available_nodes":')
    tail = (f',"price_status":{_text(status)},"price_status_reason":{_text(reason)},'
            f'"updated_at":{_text(offer.updated_at.isoformat().replace("+00:00", "Z"))},'
            f'"price_per_hour":{_number(offer.price_per_hour)},'
            f'"spot_price_per_hour":{_number(offer.spot_price_per_hour)},'
            # exact millionths → the nearest float, as float(Decimal) gives (int division rounds correctly)
            f'"price_per_gpu_hour":{"null" if per_gpu == MISSING_PRICE else float.__repr__(per_gpu / _UNITS)}}}')
    return offer.id, offer.available_nodes, head.encode(), tail.encode()


@lru_cache(maxsize=65_536)
def _text(value: str) -> str:
    """A string as JSONRenderer writes it (UTF-8, not ASCII-escaped; U+2028/9 escaped for JavaScript)."""
    return json.dumps(value, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _number(value) -> str:
    """A float (or Decimal) as the JSON encoder writes it; None → null."""
    return "null" if value is None else float.__repr__(float(value))


def offers_page_json(count: int, next_link: str | None, previous_link: str | None, rows: list[bytes]) -> bytes:
    """`{"count", "next", "previous", "results"}` as DRF's paginated response renders it."""
    links = _renderer.render({"count": count, "next": next_link, "previous": previous_link})
    return links[:-1] + b',"results":[' + b",".join(rows) + b"]}"
