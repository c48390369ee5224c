"""Catalogue read endpoints: GPUs, partners, offers. Public reads (no key needed)."""

from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from marketplace.filtersets import OfferFilterSet
from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region

from . import offer_cache
from .errors import ErrorsSerializer
from .pagination import LeanCount
from .serializers import (
    OFFER_LIST_COLUMNS,
    GpuModelSerializer,
    OfferSerializer,
    PartnerSerializer,
    offer_row_to_dict,
)


class GpuModelViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = GpuModelSerializer
    queryset = GpuModel.objects.all()
    pagination_class = None
    lookup_field = "name"


class PartnerViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = PartnerSerializer
    pagination_class = None
    lookup_field = "slug"
    queryset = Partner.objects.filter(status=PartnerStatus.ACTIVE).prefetch_related(
        Prefetch("regions", queryset=Region.objects.order_by("code")))


class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Offers of active partners. The list is served from `.values()` rows: it is the hottest read path."""

    permission_classes = [AllowAny]
    serializer_class = OfferSerializer
    filterset_class = OfferFilterSet
    queryset = Offer.objects.select_related("partner", "region", "gpu").filter(partner__status=PartnerStatus.ACTIVE)

    def filter_queryset(self, queryset):
        filterset = OfferFilterSet(self.request.query_params, queryset=queryset, request=self.request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        qs = filterset.qs
        if not self.request.query_params.get("ordering"):
            qs = qs.order_by("price_per_gpu_hour", "id")
        return qs

    @extend_schema(responses={200: OfferSerializer(many=True), 400: ErrorsSerializer})
    def list(self, request, *args, **kwargs):
        key = offer_cache.cache_key(request.query_params)
        body = offer_cache.get(key)
        if body is None:
            filtered = self.filter_queryset(self.get_queryset())
            page = self.paginate_queryset(LeanCount(filtered.values(*OFFER_LIST_COLUMNS),
                                                    filtered.select_related(None)))
            response = self.get_paginated_response([offer_row_to_dict(row) for row in page])
            body = JSONRenderer().render(response.data)
            offer_cache.put(key, body)
        return HttpResponse(body, content_type="application/json")

    def retrieve(self, request, *args, **kwargs):
        return Response(OfferSerializer(self.get_object()).data)
