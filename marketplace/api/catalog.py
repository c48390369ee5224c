"""Catalogue read endpoints: GPUs, partners, offers. Public reads (no key needed)."""

from django.db.models import Prefetch, Q
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from marketplace.filtersets import OfferFilterSet, clean_offer_filters
from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region
from marketplace.selectors.gpu_list import gpu_rows
from marketplace.selectors.offer_list import ListedOffers, offer_query
from marketplace.selectors.private_offers import private_offer_ids

from .errors import ErrorsSerializer
from .offer_json import offer_json_rows, offers_page_json
from .pagination import page_links
from .serializers import GpuModelSerializer, OfferSerializer, PartnerSerializer


class GpuModelViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = GpuModelSerializer
    queryset = GpuModel.objects.all()
    pagination_class = None
    lookup_field = "name"

    def list(self, request, *args, **kwargs):
        """Rendered to JSON once per catalogue version (GPU models change only with the catalogue)."""
        body = gpu_rows(lambda gpus: JSONRenderer().render(GpuModelSerializer(gpus, many=True).data))
        return HttpResponse(body, content_type="application/json")


class PartnerViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = PartnerSerializer
    pagination_class = None
    lookup_field = "slug"
    queryset = Partner.objects.filter(status=PartnerStatus.ACTIVE, workspace__isnull=True).prefetch_related(
        Prefetch("regions", queryset=Region.objects.order_by("code")))


class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Offers of active partners. The list, the hottest read path, is answered from the in-memory listing."""

    permission_classes = [AllowAny]
    serializer_class = OfferSerializer
    filterset_class = OfferFilterSet
    queryset = Offer.objects.select_related("partner", "region", "gpu").filter(partner__status=PartnerStatus.ACTIVE)

    def get_queryset(self):
        """Public offers, and the caller's own private ones (another workspace's are a 404)."""
        mine = private_offer_ids(getattr(getattr(self.request, "api_key", None), "workspace_id", None))
        return super().get_queryset().filter(Q(partner__workspace__isnull=True) | Q(pk__in=mine))

    @extend_schema(responses={200: OfferSerializer(many=True), 400: ErrorsSerializer})
    def list(self, request, *args, **kwargs):
        cleaned, errors = clean_offer_filters(request.query_params)
        if errors:
            raise ValidationError(errors)
        page = self.paginate_queryset(ListedOffers(offer_query(cleaned), offer_json_rows))
        next_link, previous_link = page_links(self.paginator)
        body = offers_page_json(self.paginator.page.paginator.count, next_link, previous_link, page)
        return HttpResponse(body, content_type="application/json")

    def retrieve(self, request, *args, **kwargs):
        return Response(OfferSerializer(self.get_object()).data)
