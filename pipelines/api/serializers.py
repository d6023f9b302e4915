"""Shapes of pipelines, stages, leads and their history (read) and of the request bodies (input)."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from crm.api.fields import TenantRelatedField
from crm.api.versioning import VersionedInputSerializer
from crm.models import User
from pipelines.models import (
    MAX_ORDER_INDEX,
    MAX_TEXT_LENGTH,
    HistoryKind,
    Lead,
    LeadHistory,
    LeadSource,
    Pipeline,
    Stage,
)

COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}){1,2}\Z"


class StageSerializer(serializers.ModelSerializer):
    pipeline_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Stage
        fields = ["id", "pipeline_id", "name", "order_index", "color", "is_closed", "created_at"]
        read_only_fields = fields


class PipelineSerializer(serializers.ModelSerializer):
    tenant_id = serializers.IntegerField(read_only=True)
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "tenant_id", "name", "is_default", "created_at", "stages"]
        read_only_fields = fields


@extend_schema_serializer(many=False)  # the list action answers one object, not an array of them
class PipelineListSerializer(serializers.Serializer):
    pipelines = PipelineSerializer(many=True)
    total = serializers.IntegerField()


class PipelineListQuerySerializer(serializers.Serializer):
    tenant_id = serializers.IntegerField(required=False, min_value=1, help_text="Optional; must be your own tenant.")


class PipelineCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    is_default = serializers.BooleanField(required=False, default=False)


class PipelineUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    is_default = serializers.BooleanField(required=False)


class StageCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    order_index = serializers.IntegerField(
        min_value=0, max_value=MAX_ORDER_INDEX, required=False, help_text="Default: after the last stage."
    )
    color = serializers.RegexField(COLOR_PATTERN, required=False, allow_null=True, default=None)
    is_closed = serializers.BooleanField(required=False, default=False)


class StageUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    order_index = serializers.IntegerField(min_value=0, max_value=MAX_ORDER_INDEX, required=False)
    color = serializers.RegexField(COLOR_PATTERN, required=False, allow_null=True)
    is_closed = serializers.BooleanField(required=False)


class LeadSerializer(serializers.ModelSerializer):
    tenant_id = serializers.IntegerField(read_only=True)
    pipeline_id = serializers.IntegerField(read_only=True)
    stage_id = serializers.IntegerField(read_only=True)
    assigned_to_user_id = serializers.IntegerField(source="assigned_to_id", read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "tenant_id",
            "name",
            "phone",
            "email",
            "source",
            "external_id",
            "comment",
            "pipeline_id",
            "stage_id",
            "moved_to_stage_at",
            "assigned_to_user_id",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class LeadDetailSerializer(LeadSerializer):
    source_payload = serializers.JSONField(read_only=True, allow_null=True)

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "source_payload"]
        read_only_fields = fields


def _active_users(queryset):
    return queryset.filter(is_active=True)


class LeadCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True, default=None)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, allow_null=True, default=None)
    comment = serializers.CharField(
        max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    source = serializers.ChoiceField(choices=LeadSource.choices, required=False, default=LeadSource.MANUAL)
    pipeline_id = TenantRelatedField(model=Pipeline, required=False, help_text="Default: the default pipeline.")
    stage_id = TenantRelatedField(model=Stage, required=False, help_text="Default: the pipeline's first open stage.")
    assigned_to_user_id = TenantRelatedField(
        model=User, limit=_active_users, required=False, allow_null=True, help_text="Managers may only name themself."
    )


class LeadUpdateInputSerializer(VersionedInputSerializer):
    name = serializers.CharField(max_length=255, required=False)
    phone = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, allow_null=True)
    comment = serializers.CharField(
        max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    assigned_to_user_id = TenantRelatedField(
        model=User, limit=_active_users, required=False, allow_null=True, help_text="Supervisors only."
    )


class LeadStageInputSerializer(VersionedInputSerializer):
    stage_id = TenantRelatedField(model=Stage)


class LeadHistorySerializer(serializers.ModelSerializer):
    from_stage_id = serializers.IntegerField(read_only=True, allow_null=True)
    to_stage_id = serializers.IntegerField(read_only=True, allow_null=True)
    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=HistoryKind.choices, read_only=True)

    class Meta:
        model = LeadHistory
        fields = ["id", "kind", "from_stage_id", "to_stage_id", "user_id", "text", "created_at"]
        read_only_fields = fields


class LeadHistoryPageSerializer(serializers.Serializer):
    history = LeadHistorySerializer(many=True)
    total = serializers.IntegerField()


class LeadTableRowSerializer(serializers.Serializer):
    """Documents one row of `/api/v2/leads/table` (rows are built without a serializer, see selectors)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(choices=LeadSource.choices)
    pipeline_id = serializers.IntegerField()
    pipeline_name = serializers.CharField()
    stage_id = serializers.IntegerField()
    stage_name = serializers.CharField()
    stage_color = serializers.CharField(allow_null=True)
    assigned_to_user_id = serializers.IntegerField(allow_null=True)
    assigned_to_name = serializers.CharField(allow_null=True)
    open_tasks_count = serializers.IntegerField()
    next_task_due_at = serializers.DateTimeField(allow_null=True)
    moved_to_stage_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(many=False)  # the table answers one object with its rows, not an array
class LeadTableSerializer(serializers.Serializer):
    rows = LeadTableRowSerializer(many=True)
    total = serializers.IntegerField()
    next_cursor = serializers.CharField(
        required=False, allow_null=True, help_text="Only with `?cursor=`: pass it back for the next page."
    )
