"""Deployments API (DESIGN §5): create (202), list, detail, delete."""

from decimal import Decimal

from django.conf import settings
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from marketplace.api.access import CanWriteInWorkspace, request_workspace
from marketplace.api.rentals import explanation_dict
from marketplace.api.throttling import ApiKeyWriteThrottle
from marketplace.placement import PolicySerializer, flatten_errors, validate_gpu_name
from marketplace.services.metering import BudgetExceeded
from marketplace.services.rentals import NoPlacement
from nim_launcher.gateway.stats import deployment_stats
from nim_launcher.models import Deployment
from nim_launcher.profiles import MODELS, UnknownModel
from nim_launcher.services.deployments import DeploymentInput, NameTaken, deployment_create, deployment_delete


class ReplicasSerializer(serializers.Serializer):
    min = serializers.IntegerField(min_value=1, max_value=32, default=1)
    max = serializers.IntegerField(min_value=1, max_value=32, required=False)

    def validate(self, attrs):
        attrs.setdefault("max", attrs["min"])
        if attrs["max"] < attrs["min"]:
            raise serializers.ValidationError({"max": ["must be at least min"]})
        return attrs


class DeploymentRequestSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=63)
    model = serializers.CharField(max_length=128)
    replicas = ReplicasSerializer(required=False)
    policy = PolicySerializer(required=False)
    gpu = serializers.CharField(required=False, allow_null=True, max_length=64)
    spot = serializers.BooleanField(required=False, default=False)
    max_price_per_gpu_hour = serializers.FloatField(required=False, allow_null=True, min_value=0)
    max_hours = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"),
                                         max_value=Decimal(744), default=Decimal(24))

    def validate_model(self, value):
        if value not in MODELS:
            raise serializers.ValidationError(f"unknown model {value!r}; one of {', '.join(sorted(MODELS))}")
        return value

    def validate_gpu(self, value):
        return validate_gpu_name(value)


def deployment_dict(deployment: Deployment) -> dict:
    replicas = [r for r in deployment.replicas.all() if r.state not in ("terminated", "failed")]
    stats = deployment_stats(deployment.pk)
    return {
        "id": deployment.pk, "name": deployment.name, "model": deployment.model, "profile": deployment.profile,
        "state": deployment.state, "replicas": {"min": deployment.replicas_min, "max": deployment.replicas_max,
                                                "desired": deployment.replicas_desired},
        "request": deployment.request,
        "endpoint_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/v1",
        "replica_list": [{"id": r.pk, "state": r.state, "rental": r.rental_id, "ready_at": r.ready_at,
                          "reason": r.reason or None} for r in replicas],
        "events": [{"at": e.at, "from": e.from_state, "to": e.to_state, "reason": e.reason}
                   for e in deployment.events.all()],
        "stats": stats, "created_at": deployment.created_at,
    }


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]

    def get_queryset(self):
        return (Deployment.objects.filter(workspace=request_workspace(self.request))
                .prefetch_related("replicas", "events"))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([deployment_dict(d) for d in page])

    def retrieve(self, request, *args, **kwargs):
        return Response(deployment_dict(self.get_object()))

    def create(self, request, *args, **kwargs):
        serializer = DeploymentRequestSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationError(flatten_errors(serializer.errors))
        data = serializer.validated_data
        replicas = data.get("replicas") or {"min": 1, "max": 1}
        policy = dict(data.get("policy") or {})
        extras = {"spot": data["spot"], "max_price_per_gpu_hour": data.get("max_price_per_gpu_hour")}
        spec = DeploymentInput(name=data["name"], model=data["model"], replicas_min=replicas["min"],
                               replicas_max=replicas["max"], policy=policy, request_extras=extras,
                               gpu=data.get("gpu"), max_hours=data["max_hours"])
        try:
            deployment, created = deployment_create(workspace=request_workspace(request), user=request.user,
                                                    data=spec, idempotency_key=request.headers.get("Idempotency-Key"))
        except NameTaken as exc:
            return Response({"errors": {"name": [str(exc)]}}, status=status.HTTP_409_CONFLICT)
        except UnknownModel as exc:
            raise ValidationError({"gpu": [str(exc)]}) from exc
        except NoPlacement as exc:
            return Response({"detail": "no offer can serve this model under the policy",
                             "explanation": explanation_dict(exc.explanation)}, status=status.HTTP_409_CONFLICT)
        except BudgetExceeded as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_402_PAYMENT_REQUIRED)
        return Response(deployment_dict(deployment), status=status.HTTP_202_ACCEPTED if created else 200)

    def destroy(self, request, *args, **kwargs):
        deployment = deployment_delete(self.get_object(), actor=request.user.username)
        return Response(deployment_dict(deployment), status=status.HTTP_202_ACCEPTED)
