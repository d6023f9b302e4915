"""Comparison endpoints for bench/leads_bench.py, served by the same server and middleware as the product.

- `/bench/floor/leads?tenant_id=&limit=&offset=`: the floor: one hand-written SQL query for the same page and
  columns as `/api/v2/leads/table`, rows dumped with orjson; no auth, no count, no framework.
- `/bench/floor/summary?pipeline_id=`: the floor of `GET /api/pipelines/{id}/summary`: the same grouped count and
  sum per stage in one hand-written SQL query (stages in order, empty ones 0), orjson; no auth, no framework.
- `/bench/drf/leads?limit=&offset=`: the textbook DRF version: `ListAPIView` + `ModelSerializer` +
  `LimitOffsetPagination` (with its COUNT) over the same rows, with the project's default auth and throttles.
"""

import orjson
from django.db import connection
from django.http import HttpResponse
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.pagination import LimitOffsetPagination

from crm.urls import handler400, handler403, handler404, handler500  # noqa: F401 - the same error pages
from crm.urls import urlpatterns as product_urlpatterns
from pipelines.models import Lead
from pipelines.selectors import TABLE_KEYS
from tasks.selectors import lead_task_annotations

FLOOR_SQL = """
SELECT l.id, l.name, l.phone, l.email, l.source, l.pipeline_id, p.name AS pipeline_name, l.stage_id,
       s.name AS stage_name, s.color AS stage_color, l.assigned_to_id AS assigned_to_user_id,
       COALESCE(NULLIF(u.full_name, ''), u.username) AS assigned_to_name, l.price::float8 AS price,
       (SELECT count(*) FROM tasks_leadtask t WHERE t.lead_id = l.id AND t.status = 'open') AS open_tasks_count,
       (SELECT t.due_at FROM tasks_leadtask t WHERE t.lead_id = l.id AND t.status = 'open' AND t.due_at IS NOT NULL
        ORDER BY t.due_at LIMIT 1) AS next_task_due_at,
       l.moved_to_stage_at, l.created_at, l.updated_at
FROM pipelines_lead l
JOIN pipelines_pipeline p ON p.id = l.pipeline_id
JOIN pipelines_stage s ON s.id = l.stage_id
LEFT JOIN crm_user u ON u.id = l.assigned_to_id
WHERE l.tenant_id = %s
ORDER BY l.created_at DESC, l.id DESC
LIMIT %s OFFSET %s
"""


def floor_view(request):
    query = request.GET
    params = [int(query["tenant_id"]), int(query.get("limit", 50)), int(query.get("offset", 0))]
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, params)
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return HttpResponse(orjson.dumps({"rows": rows}), content_type="application/json")


SUMMARY_FLOOR_SQL = """
SELECT s.id AS stage_id, COALESCE(g.leads, 0) AS leads, COALESCE(g.price_total, 0)::float8 AS price_total
FROM pipelines_stage s
LEFT JOIN (SELECT stage_id, count(*) AS leads, sum(price) AS price_total
           FROM pipelines_lead WHERE pipeline_id = %s GROUP BY stage_id) g ON g.stage_id = s.id
WHERE s.pipeline_id = %s
ORDER BY s.order_index, s.id
"""


def summary_floor_view(request):
    pipeline_id = int(request.GET["pipeline_id"])
    with connection.cursor() as cursor:
        cursor.execute(SUMMARY_FLOOR_SQL, [pipeline_id, pipeline_id])
        stages = [{"stage_id": row[0], "leads": row[1], "price_total": row[2]} for row in cursor.fetchall()]
    return HttpResponse(orjson.dumps({"pipeline_id": pipeline_id, "stages": stages}), content_type="application/json")


class DefaultLeadSerializer(serializers.ModelSerializer):
    pipeline_name = serializers.CharField(source="pipeline.name")
    stage_name = serializers.CharField(source="stage.name")
    stage_color = serializers.CharField(source="stage.color")
    assigned_to_user_id = serializers.IntegerField(source="assigned_to_id")
    assigned_to_name = serializers.CharField(source="assigned_to.display_name", default=None)
    open_tasks_count = serializers.IntegerField()
    next_task_due_at = serializers.DateTimeField()

    class Meta:
        model = Lead
        fields = list(TABLE_KEYS)  # the same columns as the table


class DefaultPagination(LimitOffsetPagination):
    default_limit = 50


class DefaultLeadList(generics.ListAPIView):
    serializer_class = DefaultLeadSerializer
    pagination_class = DefaultPagination

    def get_queryset(self):
        leads = Lead.objects.filter(tenant_id=self.request.user.tenant_id)
        leads = leads.select_related("pipeline", "stage", "assigned_to").annotate(**lead_task_annotations())
        return leads.order_by("-created_at", "-id")


urlpatterns = [
    path("bench/floor/leads", floor_view),
    path("bench/floor/summary", summary_floor_view),
    path("bench/drf/leads", DefaultLeadList.as_view()),
    *product_urlpatterns,
]
