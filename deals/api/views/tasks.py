"""`/api/v1/tasks`: the deal tasks' list, detail, create and change (operation ids `v1_tasks_*`, apart from
the /api lead tasks)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from crm.api.idempotency import idempotent
from deals import services
from deals.api import inputs
from deals.api.schema import STALE, VERSIONED_PATCH_PARAMETERS, errors, transitions_doc
from deals.api.serializers import DealTaskSerializer
from deals.api.views.base import V1ListMixin, V1ViewSet
from deals.filtersets import DealTaskFilterSet
from deals.models import DEAL_TASK_TRANSITIONS, DealTask


@extend_schema(tags=["Tasks (v1)"])
@extend_schema_view(
    list=extend_schema(
        operation_id="v1_tasks_list",
        summary="Tasks, by due date (managers: assigned to them, authored by them, or of their deals)",
        responses={200: DealTaskSerializer(many=True), **errors("400 validation_error")},
    ),
    retrieve=extend_schema(
        operation_id="v1_tasks_retrieve",
        summary="One task",
        responses={200: DealTaskSerializer, **errors("403 forbidden", "404 task_not_found")},
    ),
    create=extend_schema(operation_id="v1_tasks_create"),
    partial_update=extend_schema(operation_id="v1_tasks_partial_update"),
)
class DealTaskViewSet(V1ListMixin, V1ViewSet):
    queryset = DealTask.objects.all()
    serializer_class = DealTaskSerializer
    filterset_class = DealTaskFilterSet
    not_found_error = "task_not_found"
    lookup_url_kwarg = "task_id"

    @extend_schema(
        summary="Create a task about a deal, its policy or payment (managers assign only to themselves)",
        request=inputs.DealTaskCreateInputSerializer,
        responses={
            201: DealTaskSerializer,
            **errors("400 validation_error", "403 forbidden", "404 deal_not_found"),
        },
    )
    @idempotent
    def create(self, request):
        data = self.validated_input(inputs.DealTaskCreateInputSerializer)
        task = services.deal_task_create(tenant=self.tenant, acting_user=request.user, **data)
        return Response(DealTaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a task's status, assignee and details",
        description=transitions_doc("task", DEAL_TASK_TRANSITIONS, 409)
        + "\n\n`started_at` is set on the first move to `in_progress`, `completed_at` on `done` or `cancelled`.",
        request=inputs.DealTaskUpdateInputSerializer,
        responses={
            200: DealTaskSerializer,
            **errors(
                "400 validation_error", "403 forbidden", "404 task_not_found", "409 invalid_status_transition", *STALE
            ),
        },
        parameters=VERSIONED_PATCH_PARAMETERS,
    )
    def partial_update(self, request, **kwargs):
        task = self.get_object()
        data, expected = self.validated_update(inputs.DealTaskUpdateInputSerializer)
        task = services.deal_task_update(task=task, acting_user=request.user, expected=expected, **data)
        return Response(DealTaskSerializer(task).data)
