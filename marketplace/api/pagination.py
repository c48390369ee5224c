from rest_framework.pagination import PageNumberPagination


class OfferPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class LeanCount:
    """Page rows from one queryset, the total from another without the joins the rows' columns need.

    Django's paginator only calls `count()` and slices, so this stands in for the queryset.
    """

    def __init__(self, rows, count_source):
        self.rows, self.count_source = rows, count_source

    def count(self) -> int:
        return self.count_source.order_by().count()

    def __getitem__(self, index):
        return list(self.rows[index])
