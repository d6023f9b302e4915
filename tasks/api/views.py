"""Lead task endpoints (seed 000 §2, SPEC §7), tag Tasks."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.response import Response

from crm.api.pagination import ApiPagination
from crm.api.versioning import ETAG_PARAMETER, IF_MATCH_PARAMETER, STALE_RESPONSES, VersionedViewMixin
from crm.api.viewsets import TenantScopedViewSet
from pipelines.selectors import lead_get_for_user
from tasks import services
from tasks.api.serializers import LeadTaskCreateInputSerializer, LeadTaskSerializer, LeadTaskUpdateInputSerializer
from tasks.filtersets import LeadTaskFilterSet, TaskFilterSet
from tasks.models import LeadTask
from tasks.selectors import task_list_page


@extend_schema_view(
    list=extend_schema(summary="Tasks of the tenant (supervisors) or the tasks assigned to the caller (managers)"),
    retrieve=extend_schema(summary="One task"),
    partial_update=extend_schema(
        summary="Change a task's status, due time, note, type or assignee",
        request=LeadTaskUpdateInputSerializer,
        parameters=[IF_MATCH_PARAMETER, ETAG_PARAMETER],
        responses={200: LeadTaskSerializer, **STALE_RESPONSES},
    ),
)
@extend_schema(tags=["Tasks"])
class TaskViewSet(VersionedViewMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    queryset = LeadTask.objects.all()
    serializer_class = LeadTaskSerializer
    pagination_class = ApiPagination.for_rows("tasks")
    filterset_class = TaskFilterSet

    def list(self, request):
        # The hot path reads rows and the total in one statement without building a FilterSet or models
        # (TaskListPage); anything else, a 400 included, goes through the FilterSet.
        visible = self.get_queryset()
        conditions = TaskFilterSet.conditions(request.query_params, tz=request.user.tenant.tzinfo)
        source = task_list_page(visible=visible, conditions=conditions, query_params=request.query_params)
        page = self.paginate_queryset(self.filter_queryset(visible) if source is None else source)
        tz = timezone.get_current_timezone()
        return self.get_paginated_response([LeadTaskSerializer.present(task, tz) for task in page])

    def partial_update(self, request, pk=None):
        task = self.get_object()
        data, expected = self.validated_update(LeadTaskUpdateInputSerializer)
        task = services.task_update(task=task, acting_user=request.user, expected=expected, **data)
        return Response(LeadTaskSerializer(task).data)


@extend_schema_view(
    list=extend_schema(summary="Every task of a lead (managers: only of their leads)"),
    create=extend_schema(
        summary="Create a task on a lead (assignee defaults to the caller)",
        request=LeadTaskCreateInputSerializer,
        responses={201: LeadTaskSerializer},
    ),
)
@extend_schema(tags=["Tasks"])
class LeadTaskViewSet(VersionedViewMixin, TenantScopedViewSet):
    queryset = LeadTask.objects.all()
    # Every task of a lead the caller may see, whoever it is assigned to (SPEC §15).
    visible_through = "lead"
    serializer_class = LeadTaskSerializer
    pagination_class = ApiPagination.for_rows("tasks")
    filterset_class = LeadTaskFilterSet

    def list(self, request, lead_id=None):
        lead = lead_get_for_user(user=request.user, lead_id=lead_id)
        visible = self.get_queryset().filter(lead=lead)
        conditions = LeadTaskFilterSet.conditions(request.query_params, tz=request.user.tenant.tzinfo)
        source = task_list_page(visible=visible, conditions=conditions, query_params=request.query_params)
        page = self.paginate_queryset(self.filter_queryset(visible) if source is None else source)
        tz = timezone.get_current_timezone()
        return self.get_paginated_response([LeadTaskSerializer.present(task, tz) for task in page])

    def create(self, request, lead_id=None):
        lead = lead_get_for_user(user=request.user, lead_id=lead_id)
        data = self.validated_input(LeadTaskCreateInputSerializer)
        task = services.task_create(lead=lead, acting_user=request.user, **data)
        return Response(LeadTaskSerializer(task).data, status=status.HTTP_201_CREATED)
