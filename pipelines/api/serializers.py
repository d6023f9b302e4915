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
    LossReason,
    Pipeline,
    Stage,
    StageOutcome,
)
from pipelines.table_columns import LEAD_TABLE_COLUMNS, Kind, TableColumn

COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}){1,2}\Z"
# SPEC §3, §12: money is ≥ 0 with at most 12 integer digits and 2 decimals (the column is DECIMAL(14, 2)).
PRICE_DIGITS = {"max_digits": 14, "decimal_places": 2}


class PriceField(serializers.DecimalField):
    """A lead's budget: a JSON number (or null), returned as a number; a string or a boolean is a 400."""

    default_error_messages = {"not_a_number": "A JSON number is required."}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("allow_null", True)
        super().__init__(**PRICE_DIGITS, coerce_to_string=False, **kwargs)

    def validate_empty_values(self, data):
        # DRF's DecimalField reads "" as null; only JSON null is.
        if isinstance(data, str):
            self.fail("not_a_number")
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("not_a_number")
        return super().to_internal_value(data)


class StageSerializer(serializers.ModelSerializer):
    pipeline_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Stage
        fields = ["id", "pipeline_id", "name", "order_index", "color", "is_closed", "outcome", "created_at"]
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


class StageSummarySerializer(serializers.Serializer):
    stage_id = serializers.IntegerField()
    leads = serializers.IntegerField(help_text="Leads in the stage that you may see.")
    price_total = serializers.DecimalField(
        max_digits=None, decimal_places=2, coerce_to_string=False, help_text="The sum of their budgets (0 for none)."
    )


class PipelineSummarySerializer(serializers.Serializer):
    pipeline_id = serializers.IntegerField()
    stages = StageSummarySerializer(many=True, help_text="One row per stage, in stage order.")


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
    is_closed = serializers.BooleanField(required=False, help_text="Default: true for a won or lost stage, else false.")
    outcome = serializers.ChoiceField(StageOutcome.choices, required=False, allow_null=True, default=None)


class StageUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    order_index = serializers.IntegerField(min_value=0, max_value=MAX_ORDER_INDEX, required=False)
    color = serializers.RegexField(COLOR_PATTERN, required=False, allow_null=True)
    is_closed = serializers.BooleanField(required=False)
    outcome = serializers.ChoiceField(
        StageOutcome.choices, required=False, allow_null=True, help_text="won or lost closes the stage."
    )


class LeadSerializer(serializers.ModelSerializer):
    tenant_id = serializers.IntegerField(read_only=True)
    pipeline_id = serializers.IntegerField(read_only=True)
    stage_id = serializers.IntegerField(read_only=True)
    assigned_to_user_id = serializers.IntegerField(source="assigned_to_id", read_only=True, allow_null=True)
    loss_reason_id = serializers.IntegerField(read_only=True, allow_null=True)
    price = PriceField(read_only=True)
    client_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The v1 client it became (convert).")
    deal_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The v1 deal it became (convert).")

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
            "price",
            "loss_reason_id",
            "client_id",
            "deal_id",
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
    # The contract's field name is also a Field attribute in the DRF stubs; at class level it is only a field.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=LeadSource.choices, required=False, default=LeadSource.MANUAL
    )
    pipeline_id = TenantRelatedField(model=Pipeline, required=False, help_text="Default: the default pipeline.")
    stage_id = TenantRelatedField(model=Stage, required=False, help_text="Default: the pipeline's first open stage.")
    assigned_to_user_id = TenantRelatedField(
        model=User, limit=_active_users, required=False, allow_null=True, help_text="Managers may only name themself."
    )
    price = PriceField(required=False, default=None, help_text="The budget: ≥ 0, at most 2 decimals.")


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
    price = PriceField(required=False, help_text="The budget: ≥ 0, at most 2 decimals; null clears it.")


class LeadStageInputSerializer(VersionedInputSerializer):
    stage_id = TenantRelatedField(model=Stage)
    loss_reason_id = TenantRelatedField(
        model=LossReason,
        required=False,
        allow_null=True,
        help_text="Why the lead was lost: only with a move into a lost stage (GET /api/loss-reasons).",
    )


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


_TABLE_ROW_FIELDS = {
    Kind.INTEGER: serializers.IntegerField,
    Kind.TEXT: serializers.CharField,
    Kind.DATETIME: serializers.DateTimeField,
}


def _table_row_field(column: TableColumn) -> serializers.Field:
    """How the OpenAPI document types one declared column of the lead table."""
    if column.kind is Kind.PRICE:
        return PriceField(read_only=True, allow_null=column.nullable)
    if column.kind is Kind.CHOICE:
        return serializers.ChoiceField(choices=column.choices or (), allow_null=column.nullable)
    return _TABLE_ROW_FIELDS[column.kind](allow_null=column.nullable)


class LeadTableRowSerializer(serializers.Serializer):
    """Documents one row of `/api/v2/leads/table` (rows are built without a serializer, see selectors)."""

    # The fields are the table's declaration (pipelines.table_columns), in the rows' key order.
    def get_fields(self):
        return {column.key: _table_row_field(column) for column in LEAD_TABLE_COLUMNS}


@extend_schema_serializer(many=False)  # the table answers one object with its rows, not an array
class LeadTableSerializer(serializers.Serializer):
    rows = LeadTableRowSerializer(many=True)
    total = serializers.IntegerField()
    next_cursor = serializers.CharField(
        required=False, allow_null=True, help_text="Only with `?cursor=`: pass it back for the next page."
    )
