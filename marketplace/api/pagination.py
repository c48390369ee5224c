from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from rest_framework.pagination import PageNumberPagination


class OfferPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def page_links(paginator: PageNumberPagination) -> tuple[str | None, str | None]:
    """(next, previous) exactly as `get_next_link` / `get_previous_link` give them, from one parse of the URL
    (those two each build the absolute URI and parse its query string again)."""
    page = paginator.page
    has_next, has_previous = page.has_next(), page.has_previous()
    if not (has_next or has_previous):
        return None, None
    scheme, netloc, path, query, fragment = urlsplit(paginator.request.build_absolute_uri())
    params = parse_qs(query, keep_blank_values=True)
    key = paginator.page_query_param

    def link(number: int) -> str:
        """The URL with `page` set to `number`; without it for page 1 (as DRF's previous link)."""
        others = {name: values for name, values in params.items() if name != key}
        if number != 1:
            others[key] = [str(number)]
        return urlunsplit((scheme, netloc, path, urlencode(sorted(others.items()), doseq=True), fragment))

    return (link(page.next_page_number()) if has_next else None,
            link(page.previous_page_number()) if has_previous else None)
