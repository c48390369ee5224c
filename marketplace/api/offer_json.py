"""The offers list's JSON, assembled from per-offer fragments rendered once per catalogue version.

Rendering an offer (a dict, then the JSON encoder) was most of an offers request's CPU. Everything of an
offer but its live capacity only changes with the catalogue version, so the listing of that version keeps
each offer's JSON once rendered, split around `available_nodes`; a page joins those fragments with the
capacities read live. Every query still filters, orders, counts and pages: only the rendering is reused.
The bytes are exactly what JSONRenderer gives for `offer_row_to_dict` rows (tests compare them).
"""

from rest_framework.renderers import JSONRenderer

from marketplace.offer_listing import OfferListing
from marketplace.selectors.offer_list import live_capacity, value_row

from .serializers import offer_row_to_dict

# Rendered offers kept per listing (~0.6 kB each); beyond this they are dropped and rendered again on use.
MAX_RENDERED_OFFERS = 200_000
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
    """(id, snapshot capacity, JSON before the capacity value, JSON after it)."""
    offer, fields = listing.row(i)
    data = offer_row_to_dict(value_row(offer, fields, offer.available_nodes))
    keys = list(data)
    split = keys.index("available_nodes")
    head = _renderer.render({key: data[key] for key in keys[:split]})
    tail = _renderer.render({key: data[key] for key in keys[split + 1:]})
    return offer.id, offer.available_nodes, head[:-1] + b',"available_nodes":', b"," + tail[1:]


def offers_page_json(count: int, next_link: str | None, previous_link: str | None, rows: list[bytes]) -> bytes:
    """`{"count", "next", "previous", "results"}` as DRF's paginated response renders it."""
    links = _renderer.render({"count": count, "next": next_link, "previous": previous_link})
    return links[:-1] + b',"results":[' + b",".join(rows) + b"]}"
