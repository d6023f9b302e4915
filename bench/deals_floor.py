"""Comparison endpoints for bench/deals_bench.py, served by the same server and middleware as the product.

- `/bench/floor/deals?tenant_id=&limit=&offset=`: the floor: one hand-written SQL query for the same page and
  columns as `GET /api/v1/deals`, rows dumped with orjson; no auth, no count, no framework.
- `/bench/drf/deals?limit=&offset=`: the textbook DRF version: `ListAPIView` + `ModelSerializer` (the client
  nested) + `LimitOffsetPagination` (with its COUNT) over the same rows, with the project's default auth and throttles.
"""

import orjson
from django.db import connection
from django.http import HttpResponse
from django.urls import path
from rest_framework import generics, serializers
from rest_framework.pagination import LimitOffsetPagination

from crm.urls import handler400, handler403, handler404, handler500  # noqa: F401 - the same error pages
from crm.urls import urlpatterns as product_urlpatterns
from deals.models import Client, Deal

FLOOR_SQL = """
SELECT d.id, d.client_id, c.full_name AS client_name, d.title, d.description, d.status, d.sales_agent_id,
       d.executor_id, d.expected_close_date, d.tags, d.folder_id, d.created_at, d.updated_at
FROM deals_deal d
JOIN deals_client c ON c.id = d.client_id
WHERE d.tenant_id = %s
ORDER BY d.created_at DESC, d.id DESC
LIMIT %s OFFSET %s
"""


def floor_view(request):
    query = request.GET
    params = [int(query["tenant_id"]), int(query.get("limit", 25)), int(query.get("offset", 0))]
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, params)
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return HttpResponse(orjson.dumps(rows), content_type="application/json")


class DefaultClientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = ["id", "full_name", "type", "status"]


class DefaultDealSerializer(serializers.ModelSerializer):
    client = DefaultClientSerializer(read_only=True)

    class Meta:
        model = Deal
        exclude = ["tenant"]


class DefaultPagination(LimitOffsetPagination):
    default_limit = 25


class DefaultDealList(generics.ListAPIView):
    serializer_class = DefaultDealSerializer
    pagination_class = DefaultPagination

    def get_queryset(self):
        deals = Deal.objects.filter(tenant_id=self.request.user.tenant_id)
        # The textbook fix for N+1 (the user fields are slugs on User.uuid): one joined query per page.
        deals = deals.select_related("client", "sales_agent", "executor")
        return deals.order_by("-created_at", "-id")


urlpatterns = [
    path("bench/floor/deals", floor_view),
    path("bench/drf/deals", DefaultDealList.as_view()),
    *product_urlpatterns,
]
