"""Shared plumbing of the /api/v1 viewsets: pagination, detail lookups and the list path."""

from rest_framework.response import Response

from crm.api.pagination import V1Pagination
from crm.api.versioning import VersionedViewMixin
from crm.api.viewsets import TenantScopedViewSet
from deals.selectors import list_source


class V1ViewSet(VersionedViewMixin, TenantScopedViewSet):
    """Shared plumbing of the /api/v1 resources: JSON arrays with X-Total-Count/Link, id-first pages, ETags."""

    pagination_class = V1Pagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def retrieve(self, request, **kwargs):
        return Response(self.get_serializer(self.get_object()).data)

    def subcollection(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


class V1ListMixin:
    """`GET /<collection>`: filters, then the page (id-first, or one pass for `search`; see deals.selectors)."""

    def list(self, request):
        rows = self.get_queryset()
        page = self.paginate_queryset(list_source(self.filter_queryset(rows), rows, request.query_params))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
