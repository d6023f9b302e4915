"""`/api/v1/clients`: list, detail, create and change."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from crm.api.idempotency import idempotent
from deals import services
from deals.api import inputs
from deals.api.schema import STALE, VERSIONED_PATCH_PARAMETERS, errors
from deals.api.serializers import ClientSerializer
from deals.api.views.base import V1ListMixin, V1ViewSet
from deals.filtersets import ClientFilterSet
from deals.models import Client


@extend_schema(tags=["Clients"])
@extend_schema_view(
    list=extend_schema(
        summary="Clients (any role)", responses={200: ClientSerializer(many=True), **errors("400 validation_error")}
    ),
    retrieve=extend_schema(summary="One client", responses={200: ClientSerializer, **errors("404 client_not_found")}),
)
class ClientViewSet(V1ListMixin, V1ViewSet):
    queryset = Client.objects.all()
    serializer_class = ClientSerializer
    filterset_class = ClientFilterSet
    not_found_error = "client_not_found"
    lookup_url_kwarg = "client_id"

    def scope_queryset(self, queryset):
        return queryset.defer("search_text")

    @extend_schema(
        summary="Create a client (any role)",
        request=inputs.ClientCreateInputSerializer,
        responses={201: ClientSerializer, **errors("400 validation_error", "409 client_exists")},
    )
    @idempotent
    def create(self, request):
        data = self.validated_input(inputs.ClientCreateInputSerializer)
        client = services.client_create(tenant=self.tenant, **data)
        return Response(ClientSerializer(client).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a client (supervisors; managers: clients of their deals)",
        request=inputs.ClientUpdateInputSerializer,
        responses={
            200: ClientSerializer,
            **errors("400 validation_error", "403 forbidden", "404 client_not_found", "409 client_exists", *STALE),
        },
        parameters=VERSIONED_PATCH_PARAMETERS,
    )
    def partial_update(self, request, **kwargs):
        client = self.get_object()
        data, expected = self.validated_update(inputs.ClientUpdateInputSerializer)
        client = services.client_update(client=client, acting_user=request.user, expected=expected, **data)
        return Response(ClientSerializer(client).data)
