"""`/api/pipelines`, `/api/pipelines/stages`, `/api/leads` and `/api/v2/leads/table` (SPEC §5, seed 000 §1)."""

import orjson
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.pagination import ApiPagination, parse_limit_offset
from crm.api.versioning import ETAG_PARAMETER, IF_MATCH_PARAMETER, STALE_RESPONSES, VersionedViewMixin
from crm.api.viewsets import TenantScopedViewSet
from crm.errors import Forbidden, ValidationFailed
from crm.models import SUPERVISOR_ROLES
from pipelines import selectors, services
from pipelines.api.serializers import (
    LeadCreateInputSerializer,
    LeadDetailSerializer,
    LeadHistoryPageSerializer,
    LeadHistorySerializer,
    LeadSerializer,
    LeadStageInputSerializer,
    LeadTableSerializer,
    LeadUpdateInputSerializer,
    PipelineCreateInputSerializer,
    PipelineListQuerySerializer,
    PipelineListSerializer,
    PipelineSerializer,
    PipelineSummarySerializer,
    PipelineUpdateInputSerializer,
    StageCreateInputSerializer,
    StageSerializer,
    StageUpdateInputSerializer,
)
from pipelines.filtersets import LeadFilterSet
from pipelines.models import Lead, Pipeline, Stage
from pipelines.table_columns import EQUALITY_FILTERS, TableColumn

_INPUT_TO_SERVICE = {
    "pipeline_id": "pipeline",
    "stage_id": "stage",
    "assigned_to_user_id": "assigned_to",
}


def _service_kwargs(data: dict) -> dict:
    return {_INPUT_TO_SERVICE.get(name, name): value for name, value in data.items()}


@extend_schema_view(
    list=extend_schema(
        summary="Pipelines of the tenant with their stages (any role)",
        parameters=[PipelineListQuerySerializer],
        responses={200: PipelineListSerializer},
    ),
    retrieve=extend_schema(summary="One pipeline with its stages"),
    create=extend_schema(
        summary="Create a pipeline (owner, rop, admin)",
        request=PipelineCreateInputSerializer,
        responses={201: PipelineSerializer},
    ),
    partial_update=extend_schema(
        summary="Rename a pipeline or make it the default (owner, rop, admin)",
        request=PipelineUpdateInputSerializer,
        responses={200: PipelineSerializer},
    ),
)
@extend_schema(tags=["Pipelines"])
class PipelineViewSet(mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = Pipeline.objects.all()
    serializer_class = PipelineSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_roles = {"create": SUPERVISOR_ROLES, "partial_update": SUPERVISOR_ROLES, "stages": SUPERVISOR_ROLES}

    def scope_queryset(self, queryset):
        return selectors.pipelines_with_stages(queryset)

    def list(self, request):
        query = PipelineListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tenant_id = query.validated_data.get("tenant_id")
        if tenant_id is not None and tenant_id != self.tenant.pk:
            raise Forbidden("You may only read your own tenant's pipelines.")
        pipelines = list(self.get_queryset())
        return Response({"pipelines": PipelineSerializer(pipelines, many=True).data, "total": len(pipelines)})

    def create(self, request):
        data = self.validated_input(PipelineCreateInputSerializer)
        pipeline = services.pipeline_create(tenant=self.tenant, **data)
        return Response(PipelineSerializer(pipeline).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        pipeline = self.get_object()
        data = self.validated_input(PipelineUpdateInputSerializer)
        pipeline = services.pipeline_update(pipeline=pipeline, **data)
        return Response(PipelineSerializer(pipeline).data)

    @extend_schema(
        summary="Add a stage to the pipeline (owner, rop, admin)",
        request=StageCreateInputSerializer,
        responses={201: StageSerializer},
    )
    @action(detail=True, methods=["post"])
    def stages(self, request, pk=None):
        pipeline = self.get_object()
        data = self.validated_input(StageCreateInputSerializer)
        stage = services.stage_create(pipeline=pipeline, **data)
        return Response(StageSerializer(stage).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Leads and their budgets per stage, over the leads you may see (managers: theirs)",
        responses={200: PipelineSummarySerializer},
    )
    @action(detail=True, methods=["get"])
    def summary(self, request, pk=None):
        pipeline = self.get_object()
        summaries = selectors.pipeline_summary(
            pipeline=pipeline,
            stages=pipeline.stages.all(),  # prefetched in stage order (scope_queryset)
            user=request.user,
        )
        return Response(PipelineSummarySerializer({"pipeline_id": pipeline.pk, "stages": summaries}).data)


@extend_schema_view(
    partial_update=extend_schema(
        summary="Rename, recolour, reorder or close a stage (owner, rop, admin)",
        request=StageUpdateInputSerializer,
        responses={200: StageSerializer},
    ),
    destroy=extend_schema(summary="Delete a stage that holds no leads (409 stage_has_leads otherwise)"),
)
@extend_schema(tags=["Pipelines"])
class StageViewSet(TenantScopedViewSet):
    queryset = Stage.objects.select_related("pipeline")
    serializer_class = StageSerializer
    http_method_names = ["patch", "delete", "options"]
    action_roles = {"partial_update": SUPERVISOR_ROLES, "destroy": SUPERVISOR_ROLES}

    def partial_update(self, request, pk=None):
        stage = self.get_object()
        data = self.validated_input(StageUpdateInputSerializer)
        stage = services.stage_update(stage=stage, **data)
        return Response(StageSerializer(stage).data)

    def destroy(self, request, pk=None):
        services.stage_delete(stage=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Leads (managers: only theirs), newest first"),
    retrieve=extend_schema(summary="One lead with its raw intake payload", responses={200: LeadDetailSerializer}),
    create=extend_schema(
        summary="Create a lead (a manager's lead is assigned to them)",
        request=LeadCreateInputSerializer,
        responses={201: LeadDetailSerializer},
    ),
    partial_update=extend_schema(
        summary="Edit a lead; only supervisors reassign",
        request=LeadUpdateInputSerializer,
        parameters=[IF_MATCH_PARAMETER, ETAG_PARAMETER],
        responses={200: LeadDetailSerializer, **STALE_RESPONSES},
    ),
)
@extend_schema(tags=["Leads"])
class LeadViewSet(VersionedViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = Lead.objects.order_by("-created_at", "-id")
    serializer_class = LeadSerializer
    filterset_class = LeadFilterSet
    pagination_class = ApiPagination.for_rows("leads")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_roles = {"destroy": SUPERVISOR_ROLES}

    def get_serializer_class(self):
        return LeadSerializer if self.action == "list" else LeadDetailSerializer

    def create(self, request):
        data = self.validated_input(LeadCreateInputSerializer)
        lead = services.lead_create(tenant=self.tenant, acting_user=request.user, **_service_kwargs(data))
        return Response(LeadDetailSerializer(lead).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        lead = self.get_object()
        data, expected = self.validated_update(LeadUpdateInputSerializer)
        lead = services.lead_update(lead=lead, acting_user=request.user, expected=expected, **_service_kwargs(data))
        return Response(LeadDetailSerializer(lead).data)

    @extend_schema(
        summary="Erase the lead: its tasks, history and stored payloads go with it (owner, rop, admin)",
        description="Personal data erasure (SPEC §12): the id answers 404 afterwards; webhooks get `lead_deleted`.",
        responses={204: None},
    )
    def destroy(self, request, pk=None):
        services.lead_erase(lead=self.get_object(), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=["Pipelines"],
        summary="Move the lead to a stage (managers: only their leads)",
        request=LeadStageInputSerializer,
        parameters=[IF_MATCH_PARAMETER, ETAG_PARAMETER],
        responses={200: LeadDetailSerializer, **STALE_RESPONSES},
    )
    @action(detail=True, methods=["patch"])
    def stage(self, request, pk=None):
        lead = self.get_object()
        data, expected = self.validated_update(LeadStageInputSerializer)
        lead = services.lead_move_to_stage(
            lead=lead,
            stage=data["stage_id"],
            loss_reason=data.get("loss_reason_id"),
            acting_user=request.user,
            expected=expected,
        )
        return Response(LeadDetailSerializer(lead).data)

    @extend_schema(
        summary="The lead's history, newest first",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..200, default 50"),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: LeadHistoryPageSerializer},
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=ApiPagination.for_rows("history"))
    def history(self, request, pk=None):
        lead = self.get_object()
        entries = self.paginate_queryset(selectors.lead_history_list(lead=lead))
        return self.get_paginated_response(LeadHistorySerializer(entries, many=True).data)


def _equality_filter_parameter(column: TableColumn) -> OpenApiParameter:
    if column.choices:
        return OpenApiParameter(column.key, OpenApiTypes.STR, enum=[value for value, _label in column.choices])
    return OpenApiParameter(column.key, OpenApiTypes.INT)


_TABLE_PARAMETERS = [
    OpenApiParameter("ordering", OpenApiTypes.STR, description="Any row key, `-key` descending; default -created_at"),
    OpenApiParameter("limit", OpenApiTypes.INT, description="1..200, default 50"),
    OpenApiParameter("offset", OpenApiTypes.INT),
    OpenApiParameter(
        "cursor",
        OpenApiTypes.STR,
        description="Keyset pagination: empty for the first page, then the previous `next_cursor` (ignores offset)",
    ),
    *(_equality_filter_parameter(column) for column in EQUALITY_FILTERS),
    OpenApiParameter("search", OpenApiTypes.STR, description="Matches name, phone and email"),
    OpenApiParameter("price_from", OpenApiTypes.NUMBER, description="Budget at least this (leads without one never)"),
    OpenApiParameter("price_to", OpenApiTypes.NUMBER, description="Budget at most this (leads without one never)"),
]


@extend_schema(tags=["Leads"])
class LeadTableViewSet(TenantScopedViewSet):
    """The table read path: one values() query plus a count, rendered by orjson (no ModelSerializer)."""

    queryset = Lead.objects.all()
    filterset_class = None

    @extend_schema(
        summary="Flat lead rows for a table view, sortable by every column",
        parameters=_TABLE_PARAMETERS,
        responses={200: LeadTableSerializer},
    )
    def list(self, request):
        params = request.query_params
        limit, offset = parse_limit_offset(params, default_limit=50)
        cursor = params.get("cursor")
        if cursor is not None and "offset" in params:
            raise ValidationFailed.for_field("cursor", "Use either cursor or offset.")
        page = selectors.lead_table(
            user=request.user,
            leads=self.get_queryset(),
            filters=params,
            ordering=params.get("ordering"),
            limit=limit,
            offset=offset,
            cursor=cursor,
        )
        body = {"rows": page.rows, "total": page.total}
        if cursor is not None:
            body["next_cursor"] = page.next_cursor
        return HttpResponse(orjson.dumps(body), content_type="application/json")
