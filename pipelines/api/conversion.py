"""`POST /api/leads/{id}/convert`: the lead becomes a v1 client and deal (SPEC §12 «Into a deal»)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from crm.api.viewsets import TenantScopedViewSet
from deals.api.fields import OptionalTextField, StrictCharField, UUIDRelatedField, user_field
from deals.models import Client
from pipelines import services
from pipelines.models import Lead


class LeadConvertDealInputSerializer(serializers.Serializer):
    title = StrictCharField(max_length=255, required=False, allow_null=True, help_text="Default: the lead's name.")
    sales_agent_id = user_field(
        source="sales_agent",
        required=False,
        allow_null=True,
        help_text="User uuid. Default: the lead's assignee, else the caller.",
    )
    description = OptionalTextField(max_length=10_000)


class LeadConvertInputSerializer(serializers.Serializer):
    client_id = UUIDRelatedField(
        model=Client,
        source="client",
        required=False,
        allow_null=True,
        help_text="A v1 client of the tenant. Default: a client with the lead's phone or email, else a new one.",
    )
    deal = LeadConvertDealInputSerializer(required=False, allow_null=True)


class LeadConversionSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    client_id = serializers.UUIDField()
    deal_id = serializers.UUIDField()
    client_created = serializers.BooleanField(help_text="False when an existing client was given or found.")


@extend_schema(tags=["Leads"])
class LeadConversionViewSet(TenantScopedViewSet):
    """The sales funnel's way into the brokerage: one client and one deal per lead (pipelines.services.conversion)."""

    queryset = Lead.objects.all()

    @extend_schema(
        summary="Turn the lead into a v1 client and deal (managers: only their leads; once per lead, else 409)",
        description=(
            "Without `client_id` a client whose contact equals the lead's phone or email is reused, else a "
            "`potential` individual is created from the lead. 409 `conflict` for a lead already converted; 400 "
            "`validation_error` naming `client_id` or `deal.sales_agent_id` for an id outside the tenant."
        ),
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The lead.")],
        request=LeadConvertInputSerializer,
        responses={201: LeadConversionSerializer},
    )
    def convert(self, request, pk=None):
        lead = self.get_object()
        data = self.validated_input(LeadConvertInputSerializer)
        conversion = services.lead_convert(
            lead=lead, acting_user=request.user, client=data.get("client"), **(data.get("deal") or {})
        )
        body = {
            "lead_id": conversion.lead.pk,
            "client_id": conversion.client.pk,
            "deal_id": conversion.deal.pk,
            "client_created": conversion.client_created,
        }
        return Response(LeadConversionSerializer(body).data, status=status.HTTP_201_CREATED)
