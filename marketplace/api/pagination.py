import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from rest_framework.pagination import PageNumberPagination

# A query string of name=value pairs in characters URL encoding leaves as they are: DRF's parse and re-encode
# of it is the identity on each pair, so the pairs can be re-ordered as they stand.
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*(?:&[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*)*")


class OfferPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def page_links(paginator: PageNumberPagination) -> tuple[str | None, str | None]:
    """(next, previous) exactly as `get_next_link` / `get_previous_link` give them, from one parse of the URL
    (those two each build the absolute URI and parse and re-encode its query string)."""
    page = paginator.page
    has_next, has_previous = page.has_next(), page.has_previous()
    if not (has_next or has_previous):
        return None, None
    scheme, netloc, path, query, fragment = urlsplit(paginator.request.build_absolute_uri())
    key = paginator.page_query_param
    plain = _PLAIN_QUERY.fullmatch(query) is not None
    if plain:
        pairs = [pair.partition("=")[::2] for pair in query.split("&")]
    else:
        pairs = [(name, value) for name, values in parse_qs(query, keep_blank_values=True).items() for value in values]
    others = [(name, value) for name, value in pairs if name != key]

    def link(number: int) -> str:
        """The URL with `page` set to `number`; without it for page 1 (as DRF's previous link)."""
        chosen = others + [(key, str(number))] if number != 1 else others
        ordered = sorted(chosen, key=lambda pair: pair[0])  # stable: a name's values keep their order
        encoded = "&".join(f"{name}={value}" for name, value in ordered) if plain else urlencode(ordered)
        return urlunsplit((scheme, netloc, path, encoded, fragment))

    return (link(page.next_page_number()) if has_next else None,
            link(page.previous_page_number()) if has_previous else None)
