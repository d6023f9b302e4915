"""`POST /api/leads/{id}/merge` (SPEC §12): fold a duplicate lead into this one."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from crm.api.fields import TenantRelatedField
from crm.api.versioning import ErrorEnvelopeSerializer, VersionedViewMixin
from crm.api.viewsets import TenantScopedViewSet
from pipelines import services
from pipelines.api.serializers import LeadDetailSerializer
from pipelines.models import Lead


class LeadMergeInputSerializer(serializers.Serializer):
    from_lead_id = TenantRelatedField(
        model=Lead, help_text="The duplicate: its tasks, history and messages move here, then it is deleted."
    )


@extend_schema(tags=["Leads"])
class LeadMergeViewSet(VersionedViewMixin, TenantScopedViewSet):
    queryset = Lead.objects.all()
    serializer_class = LeadDetailSerializer

    @extend_schema(
        summary="Merge another lead into this one (supervisors; managers only when both leads are theirs)",
        description=(
            f"Empty fields of this lead are filled from the other ({', '.join(services.MERGE_FILLED_FIELDS)}); "
            "its tasks, history and inbound messages move here; the other lead is deleted (webhook `lead_deleted`), "
            "this one records `merged` and emits `lead_updated`. A lead that became a deal cannot be merged away."
        ),
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The surviving lead.")],
        request=LeadMergeInputSerializer,
        responses={
            200: LeadDetailSerializer,
            400: OpenApiResponse(
                ErrorEnvelopeSerializer,
                description="`validation_error` naming `from_lead_id`: missing, not a lead of your tenant, this "
                "lead itself, or a lead that became a deal.",
            ),
        },
    )
    def merge(self, request, pk=None):
        lead = self.get_object()
        data = self.validated_input(LeadMergeInputSerializer)
        lead = services.lead_merge(lead=lead, from_lead=data["from_lead_id"], acting_user=request.user)
        return Response(LeadDetailSerializer(lead).data)
