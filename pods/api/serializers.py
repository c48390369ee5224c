"""What the pods API answers (DESIGN §12)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.api.fields import EventSerializer
from marketplace.api.placement import StoredRequestField
from pods.models import PodState
from pods.selectors import PodView


class ActivitySerializer(serializers.Serializer):
    """What the node agent last saw of the pod's use, and when the idle stop comes."""

    last_activity_at = serializers.DateTimeField(allow_null=True, help_text="last SSH session, busy kernel or GPU")
    idle_since = serializers.DateTimeField(allow_null=True)
    idle_stop_at = serializers.DateTimeField(allow_null=True, help_text="null: never, or not running")
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)
    ssh_sessions = serializers.IntegerField(allow_null=True)
    jupyter_kernels = serializers.IntegerField(allow_null=True)
    jupyter_busy_kernels = serializers.IntegerField(allow_null=True)
    gpu_utilization_pct = serializers.FloatField(allow_null=True)


class CostSerializer(serializers.Serializer):
    price_per_hour = serializers.FloatField(allow_null=True, help_text="USD, locked when the node was placed")
    so_far = serializers.FloatField(help_text="USD, per second of running time")


class PodSerializer(serializers.Serializer):
    """A pod: state, how to connect (once running), activity, cost and events."""

    id = serializers.IntegerField(source="pod.pk")
    name = serializers.CharField(source="pod.name")
    state = serializers.ChoiceField(source="pod.state", choices=PodState.choices)
    request = StoredRequestField(source="pod.request")
    jupyter = serializers.BooleanField(source="pod.jupyter")
    image = serializers.CharField(allow_null=True)
    idle_timeout_minutes = serializers.IntegerField(source="pod.idle_timeout_minutes")
    max_hours = serializers.FloatField(source="pod.max_hours")
    rental = serializers.IntegerField(source="pod.rental_id", allow_null=True)
    partner = serializers.CharField(allow_null=True)
    ssh = serializers.CharField(allow_null=True, help_text="`ssh -p PORT user@host` while running")
    jupyter_url = serializers.URLField(allow_null=True, help_text="JupyterLab while running; it asks for the token")
    jupyter_token = serializers.CharField(allow_null=True, help_text="shown once: in the answer that created the pod")
    activity = ActivitySerializer()
    cost = CostSerializer()
    events = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="pod.created_at")
    running_since = serializers.DateTimeField(source="pod.running_since", allow_null=True)

    @extend_schema_field(EventSerializer(many=True))
    def get_events(self, view: PodView) -> list[dict]:
        return EventSerializer(view.pod.events.all(), many=True).data
