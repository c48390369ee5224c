"""Output serializers of the fleet API: every answer it gives."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fleets.models import MachineState, WorkState
from fleets.services.fleets import describe_inventory
from marketplace.api.fields import BlankAsNull, EventSerializer
from marketplace.models import HealthState


class MachineEventSerializer(EventSerializer):
    actor = serializers.CharField()


class WorkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    node = serializers.IntegerField(source="node_id", allow_null=True)
    state = serializers.ChoiceField(choices=WorkState.choices)
    exit_code = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class MachineSerializer(serializers.Serializer):
    """One machine: its inventory (`simulated` when declared, not read from NVML), location, health, state."""

    id = serializers.IntegerField()
    hostname = serializers.CharField()
    state = serializers.ChoiceField(choices=MachineState.choices)
    gpu = BlankAsNull(help_text="canonical model; null = no usable GPU")
    gpus = serializers.IntegerField(source="gpu_count")
    gpu_memory_gb = serializers.IntegerField()
    gpu_name = BlankAsNull(help_text="as NVML (or the declared inventory) names it")
    vcpus = serializers.IntegerField()
    memory_gb = serializers.FloatField()
    country = serializers.CharField()
    region = BlankAsNull()
    simulated = serializers.BooleanField()
    inventory = serializers.SerializerMethodField()
    health = serializers.ChoiceField(choices=HealthState.choices)
    health_reason = BlankAsNull()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField())
    def get_inventory(self, machine) -> str:
        return describe_inventory(machine)


class MachineDetailSerializer(MachineSerializer):
    works = WorkSerializer(many=True)
    events = MachineEventSerializer(many=True)


class FleetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    partner = serializers.CharField(source="partner.slug", help_text="the private partner its rentals show")
    price_per_gpu_hour = serializers.FloatField()
    join_token_expires_at = serializers.DateTimeField(allow_null=True)
    machines = MachineSerializer(many=True)
    created_at = serializers.DateTimeField()


class FleetCreatedSerializer(FleetSerializer):
    join_token = serializers.CharField(help_text="shown once: `gpubroker-agent join --token …` on each machine")


class FleetInputSerializer(serializers.Serializer):
    """Describes the body (the parser is `fleets.inputs.parse_fleet`)."""

    name = serializers.CharField(max_length=64)
    price_per_gpu_hour = serializers.DecimalField(max_digits=16, decimal_places=6, min_value=0, required=False,
                                                  coerce_to_string=False,
                                                  help_text="internal price per GPU-hour, default 0")


class InventoryInputSerializer(serializers.Serializer):
    gpus = serializers.ListField(child=serializers.CharField(max_length=128), required=False,
                                 help_text="one NVML device name per GPU; empty = no GPU")
    gpu_memory_gb = serializers.IntegerField(min_value=0, required=False)
    vcpus = serializers.IntegerField(min_value=0, required=False)
    memory_gb = serializers.FloatField(min_value=0, required=False)
    simulated = serializers.BooleanField(required=False)


class JoinInputSerializer(serializers.Serializer):
    token = serializers.CharField()
    hostname = serializers.CharField(max_length=255)
    country = serializers.CharField(max_length=2)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    ip = serializers.CharField(max_length=64, required=False, allow_blank=True)
    inventory = InventoryInputSerializer()


class JoinAnswerSerializer(serializers.Serializer):
    machine = MachineSerializer()
    machine_token = serializers.CharField(help_text="the machine's credential, shown once (the agent keeps it 0600)")


class WorkReportInputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=[WorkState.RUNNING, WorkState.STOPPED, WorkState.FAILED])
    exit_code = serializers.IntegerField(required=False, allow_null=True)
    log = serializers.CharField(required=False, allow_blank=True)


class PollInputSerializer(serializers.Serializer):
    health = serializers.ChoiceField(choices=HealthState.choices)
    reasons = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    works = WorkReportInputSerializer(many=True, required=False)


class StartSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.DictField(help_text="the launch plan: format, write_files, runcmd (or script)")


class PollAnswerSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=MachineState.choices, help_text="removed: the agent stops")
    start = StartSerializer(many=True)
    stop = serializers.ListField(child=serializers.IntegerField())
