"""`/api/webhook-subscriptions`: outbound webhook subscriptions and their delivery log (owner and admin, SPEC §14)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.pagination import ApiPagination
from crm.api.viewsets import TenantScopedViewSet
from crm.models import ACCOUNT_ADMIN_ROLES
from events.models import WebhookDelivery, WebhookSubscription
from events.webhooks import log, services

_FIELDS = ["id", "url", "events", "description", "is_active", "created_at", "disabled_reason"]


class SubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=log.EVENT_TYPES))

    class Meta:
        model = WebhookSubscription
        fields = _FIELDS
        read_only_fields = _FIELDS


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_… Shown once: store it to verify signatures.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*_FIELDS, "secret"]
        read_only_fields = fields


class SubscriptionInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=log.EVENT_TYPES), allow_empty=False, max_length=len(log.EVENT_TYPES) * 2
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SubscriptionUpdateInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=log.EVENT_TYPES),
        allow_empty=False,
        max_length=len(log.EVENT_TYPES) * 2,
        required=False,
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class ReplayInputSerializer(serializers.Serializer):
    since_event_id = serializers.CharField(max_length=64, help_text="An event's `id` (webhook-id): from it on.")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "attempt",
            "status",
            "response_status",
            "error",
            "duration_ms",
            "created_at",
            "next_attempt_at",
        ]
        read_only_fields = fields


class DeliveryPageSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)
    total = serializers.IntegerField()


@extend_schema(tags=["Webhooks"])
class WebhookSubscriptionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantScopedViewSet
):
    queryset = WebhookSubscription.objects.order_by("-created_at", "-id")
    serializer_class = SubscriptionSerializer
    pagination_class = ApiPagination.for_rows("subscriptions")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_roles = dict.fromkeys(
        ("list", "create", "retrieve", "partial_update", "destroy", "deliveries", "replay"), ACCOUNT_ADMIN_ROLES
    )

    @extend_schema(summary="Webhook subscriptions, newest first (owner, admin)")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Subscribe a URL to events; the secret is in this answer only (owner, admin)",
        request=SubscriptionInputSerializer,
        responses={201: SubscriptionCreatedSerializer},
    )
    def create(self, request):
        data = self.validated_input(SubscriptionInputSerializer)
        subscription, secret = services.subscription_create(tenant=self.tenant, **data)
        body = {**SubscriptionSerializer(subscription).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a subscription; is_active true re-enables it and delivers its backlog (owner, admin)",
        request=SubscriptionUpdateInputSerializer,
        responses={200: SubscriptionSerializer},
    )
    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        data = self.validated_input(SubscriptionUpdateInputSerializer)
        subscription = services.subscription_update(subscription=subscription, **data)
        return Response(SubscriptionSerializer(subscription).data)

    def perform_destroy(self, instance):
        services.subscription_delete(subscription=instance)

    @extend_schema(
        summary="The delivery log: one row per attempt, newest first (owner, admin)",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..200, default 50"),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: DeliveryPageSerializer},
    )
    @action(detail=True, methods=["get"], pagination_class=ApiPagination.for_rows("deliveries"))
    def deliveries(self, request, pk=None):
        subscription = self.get_object()
        rows = self.paginate_queryset(subscription.deliveries.order_by("-created_at", "-id"))
        return self.get_paginated_response(DeliverySerializer(rows, many=True).data)

    @extend_schema(
        summary="Deliver again every subscribed event from since_event_id on, in order (owner, admin)",
        request=ReplayInputSerializer,
        responses={202: SubscriptionSerializer},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        subscription = self.get_object()
        data = self.validated_input(ReplayInputSerializer)
        subscription = services.subscription_replay(subscription=subscription, **data)
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_202_ACCEPTED)
