"""`/api/loss-reasons`: the tenant's list of reasons a lead was lost (SPEC §12)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from crm.api.viewsets import TenantScopedViewSet
from crm.models import SUPERVISOR_ROLES
from pipelines import services
from pipelines.models import LossReason


class LossReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = LossReason
        fields = ["id", "name", "is_active"]
        read_only_fields = fields


@extend_schema_serializer(many=False)  # the list action answers one object, not an array of them
class LossReasonListSerializer(serializers.Serializer):
    loss_reasons = LossReasonSerializer(many=True)
    total = serializers.IntegerField()


class LossReasonCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, help_text="Unique within the tenant.")
    is_active = serializers.BooleanField(required=False, default=True)


class LossReasonUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, help_text="Unique within the tenant.")
    is_active = serializers.BooleanField(required=False)


@extend_schema_view(
    list=extend_schema(
        summary="The tenant's loss reasons, by id (any role)", responses={200: LossReasonListSerializer}
    ),
    create=extend_schema(
        summary="Add a loss reason (owner, rop, admin)",
        request=LossReasonCreateInputSerializer,
        responses={201: LossReasonSerializer},
    ),
    partial_update=extend_schema(
        summary="Rename a loss reason or (de)activate it (owner, rop, admin)",
        request=LossReasonUpdateInputSerializer,
        responses={200: LossReasonSerializer},
    ),
)
@extend_schema(tags=["Pipelines"])
class LossReasonViewSet(TenantScopedViewSet):
    queryset = LossReason.objects.order_by("id")
    serializer_class = LossReasonSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_roles = {"create": SUPERVISOR_ROLES, "partial_update": SUPERVISOR_ROLES}

    def list(self, request):
        reasons = list(self.get_queryset())
        return Response({"loss_reasons": LossReasonSerializer(reasons, many=True).data, "total": len(reasons)})

    def create(self, request):
        data = self.validated_input(LossReasonCreateInputSerializer)
        reason = services.loss_reason_create(tenant=self.tenant, **data)
        return Response(LossReasonSerializer(reason).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        reason = self.get_object()
        data = self.validated_input(LossReasonUpdateInputSerializer)
        reason = services.loss_reason_update(reason=reason, **data)
        return Response(LossReasonSerializer(reason).data)
