"""Lead intake webhooks (SPEC §6): site forms, Chatflow hand-offs and the WhatsApp Business Cloud API.

No user token here: the tenant is the one whose secret `webhook_key` is in the path (unknown key → 404).
Each view parses its provider's payload and calls `services.lead_intake`, which makes deliveries idempotent.
"""

import hashlib
import logging

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.parsers import JSONParser, request_json
from crm.api.throttling import WebhookKeyRateThrottle
from crm.errors import ApplicationError, Forbidden, NotFound, Unauthorized, ValidationFailed
from crm.models import Tenant
from pipelines import services
from pipelines.integrations import whatsapp
from pipelines.models import MAX_TEXT_LENGTH, LeadSource

logger = logging.getLogger("pipelines.webhooks")


class SiteWebhookInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True, default=None)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, allow_null=True, default=None)
    message = serializers.CharField(max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True, default="")
    utm_source = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=255, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=255, required=False, allow_blank=True)
    page_url = serializers.CharField(max_length=2048, required=False, allow_blank=True)


class ChatflowContactSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, allow_null=True, default="")
    phone = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True, default=None)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, allow_null=True, default=None)


class ChatflowWebhookInputSerializer(serializers.Serializer):
    chat_id = serializers.CharField(max_length=255)
    contact = ChatflowContactSerializer()
    message = serializers.CharField(max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True, default="")
    bot = serializers.CharField(max_length=255, required=False, allow_blank=True, allow_null=True)


class IntakeResultSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    created = serializers.BooleanField()


class WhatsAppReceivedSerializer(serializers.Serializer):
    received = serializers.IntegerField(
        help_text="Inbound messages of the notification accepted (repeats included, malformed ones skipped)."
    )


_INTAKE_RESPONSES = {
    201: OpenApiResponse(IntakeResultSerializer, description="A new lead"),
    200: OpenApiResponse(IntakeResultSerializer, description="A repeated delivery, or a message for an open lead"),
}
_KEY_PARAMETER = OpenApiParameter("webhook_key", OpenApiTypes.STR, OpenApiParameter.PATH)


class WebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookKeyRateThrottle]
    parser_classes = [JSONParser]

    def tenant_for(self, webhook_key: str) -> Tenant:
        tenant = Tenant.objects.filter(webhook_key=webhook_key).first() if webhook_key else None
        if tenant is None:
            raise NotFound("Unknown webhook key.")
        return tenant

    @staticmethod
    def validated(serializer_class, data) -> tuple[dict, dict]:
        """The validated fields, and the payload to keep: only the fields understood that were sent."""
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data, _understood(data, serializer.validated_data)

    @staticmethod
    def intake_response(lead, created: bool) -> Response:
        return Response(
            {"lead_id": lead.pk, "created": created}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def _understood(raw: dict, validated: dict) -> dict:
    # Unknown keys are dropped (SPEC §15): a public form must not be a free store for whatever is posted to it.
    return {
        key: _understood(raw[key], value) if isinstance(value, dict) else value
        for key, value in validated.items()
        if key in raw
    }


def _plain(data) -> dict:
    """The body as a JSON-able dict (a form's QueryDict keeps each field's last value)."""
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.", details={"body": ["Expected an object."]})
    return data.dict() if hasattr(data, "dict") else data


class SiteWebhookView(WebhookView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        tags=["Webhooks"],
        auth=[],
        summary="A site form: a new lead, or a message for the contact's open lead",
        description="JSON or `application/x-www-form-urlencoded`. A phone or an email is required. "
        "Send `Idempotency-Key` to make retries of one submission create one lead.",
        parameters=[
            _KEY_PARAMETER,
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
        ],
        request={
            "application/json": SiteWebhookInputSerializer,
            "application/x-www-form-urlencoded": SiteWebhookInputSerializer,
        },
        responses=_INTAKE_RESPONSES,
    )
    def post(self, request, webhook_key: str):
        tenant = self.tenant_for(webhook_key)
        data, payload = self.validated(SiteWebhookInputSerializer, _plain(request.data))
        lead, created = services.lead_intake(
            tenant=tenant,
            source=LeadSource.SITE,
            delivery_id=request.headers.get("Idempotency-Key"),
            name=data["name"],
            phone=data["phone"],
            email=data["email"],
            message=data["message"],
            payload=payload,
        )
        return self.intake_response(lead, created)


class ChatflowWebhookView(WebhookView):
    @extend_schema(
        tags=["Webhooks"],
        auth=[],
        summary="A Chatflow bot hand-off: a new lead, or a message for the contact's open lead",
        description="The same `chat_id` with the same `message` delivered again makes no second lead.",
        parameters=[_KEY_PARAMETER],
        request=ChatflowWebhookInputSerializer,
        responses=_INTAKE_RESPONSES,
    )
    def post(self, request, webhook_key: str):
        tenant = self.tenant_for(webhook_key)
        data, payload = self.validated(ChatflowWebhookInputSerializer, _plain(request.data))
        contact = data["contact"]
        message_hash = hashlib.sha256(data["message"].encode()).hexdigest()[:32]
        lead, created = services.lead_intake(
            tenant=tenant,
            source=LeadSource.CHATFLOW,
            delivery_id=f"{data['chat_id']}:{message_hash}",
            name=contact.get("name") or "",
            phone=contact.get("phone"),
            email=contact.get("email"),
            message=data["message"],
            payload=payload,
            external_id=data["chat_id"],
        )
        return self.intake_response(lead, created)


class WhatsAppWebhookView(WebhookView):
    @extend_schema(
        tags=["Webhooks"],
        auth=[],
        summary="Meta's verification handshake: echoes hub.challenge when hub.verify_token matches",
        parameters=[
            _KEY_PARAMETER,
            OpenApiParameter("hub.mode", OpenApiTypes.STR, required=True, enum=["subscribe"]),
            OpenApiParameter("hub.verify_token", OpenApiTypes.STR, required=True),
            OpenApiParameter("hub.challenge", OpenApiTypes.STR, required=True),
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request, webhook_key: str):
        tenant = self.tenant_for(webhook_key)
        params = request.query_params
        if params.get("hub.mode") != "subscribe" or not params.get("hub.challenge"):
            raise ValidationFailed(
                "Expected hub.mode=subscribe and a hub.challenge.", details={"hub.mode": ["subscribe"]}
            )
        token = params.get("hub.verify_token", "")
        if not tenant.whatsapp_verify_token or token != tenant.whatsapp_verify_token:
            raise Forbidden("The verify token does not match.")
        return HttpResponse(params["hub.challenge"], content_type="text/plain")

    @extend_schema(
        tags=["Webhooks"],
        auth=[],
        summary="Message notifications, signed with X-Hub-Signature-256; each message id is accepted once",
        parameters=[
            _KEY_PARAMETER,
            OpenApiParameter("X-Hub-Signature-256", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
        request=OpenApiTypes.OBJECT,
        responses={200: WhatsAppReceivedSerializer},
    )
    def post(self, request, webhook_key: str):
        tenant = self.tenant_for(webhook_key)
        body = request.body
        signature = request.headers.get("X-Hub-Signature-256")
        if not whatsapp.signature_is_valid(app_secret=tenant.whatsapp_app_secret, body=body, header=signature):
            raise Unauthorized("The X-Hub-Signature-256 signature does not match.")
        notification = whatsapp.messages_from_notification(request_json(request))
        received = _whatsapp_intake(tenant, notification)
        if notification.problems:
            logger.warning(
                "WhatsApp notification for tenant %s: %d part(s) skipped: %s",
                tenant.pk,
                len(notification.problems),
                "; ".join(notification.problems)[:2000],
            )
            if not received:
                raise ValidationFailed("Malformed WhatsApp notification.", details={"body": notification.problems[:20]})
        return Response({"received": received})


def _whatsapp_intake(tenant: Tenant, notification: whatsapp.Notification) -> int:
    """Take in each message on its own (a refused one joins the problems); the number accepted."""
    received = 0
    for message in notification.messages:
        try:
            services.lead_intake(
                tenant=tenant,
                source=LeadSource.WHATSAPP,
                delivery_id=message.message_id,
                name=message.name,
                phone="+" + message.wa_id.lstrip("+"),
                message=message.text,
                payload=message.part,
                external_id=message.wa_id,
            )
        except ApplicationError as exc:
            notification.problems.append(f"message {message.message_id[:80]}: {exc.message}")
            continue
        received += 1
    return received
