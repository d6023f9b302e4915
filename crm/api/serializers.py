"""Serializers of the core API: auth, users, tenant settings."""

from rest_framework import serializers

from crm.api.present import iso_datetime
from crm.models import LeadDistribution, Role, Tenant, User


class TokenObtainInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=255, help_text="Username or email.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class AccessTokenSerializer(serializers.Serializer):
    access = serializers.CharField()


class MeSerializer(serializers.ModelSerializer):
    tenant_id = serializers.IntegerField(read_only=True, allow_null=True)
    email = serializers.CharField(read_only=True, help_text="Empty when the user has none (not `format: email`).")

    class Meta:
        model = User
        fields = ["id", "uuid", "username", "email", "tenant_id", "role", "full_name"]
        read_only_fields = fields

    @staticmethod
    def present(user) -> dict:
        """The body every authenticated client may ask for first: built directly, not by walking the fields."""
        return {
            "id": user.id,
            "uuid": str(user.uuid),
            "username": user.username,
            "email": user.email,
            "tenant_id": user.tenant_id,
            "role": user.role,
            "full_name": user.full_name,
        }


class UserSerializer(serializers.ModelSerializer):
    tenant_id = serializers.IntegerField(read_only=True)
    email = serializers.CharField(read_only=True, help_text="Empty when the user has none (not `format: email`).")
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)

    class Meta:
        model = User
        fields = ["id", "uuid", "username", "email", "full_name", "role", "is_active", "tenant_id", "created_at"]
        read_only_fields = fields

    @staticmethod
    def present(user) -> dict:
        """The user as the fields above write it (crm/tests/test_api_users.py), without walking them."""
        return {
            "id": user.id,
            "uuid": str(user.uuid),
            "username": user.username,
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role,
            "is_active": user.is_active,
            "tenant_id": user.tenant_id,
            "created_at": iso_datetime(user.date_joined),
        }


class UserCreateInputSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices)


class UserUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)


class TenantSerializer(serializers.ModelSerializer):
    distribution_user_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    whatsapp_app_secret_set = serializers.SerializerMethodField()
    whatsapp_verify_token_set = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = [
            "id",
            "name",
            "slug",
            "timezone",
            "phone_region",
            "webhook_key",
            "whatsapp_app_secret_set",
            "whatsapp_verify_token_set",
            "lead_distribution",
            "distribution_user_ids",
            "renewal_notice_days",
        ]
        read_only_fields = fields

    def get_whatsapp_app_secret_set(self, tenant) -> bool:
        return bool(tenant.whatsapp_app_secret)

    def get_whatsapp_verify_token_set(self, tenant) -> bool:
        return bool(tenant.whatsapp_verify_token)


class TenantUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    phone_region = serializers.CharField(max_length=2, required=False)
    whatsapp_app_secret = serializers.CharField(max_length=255, required=False, allow_blank=True)
    whatsapp_verify_token = serializers.CharField(max_length=255, required=False, allow_blank=True)
    lead_distribution = serializers.ChoiceField(choices=LeadDistribution.choices, required=False)
    distribution_user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), max_length=1000, required=False
    )
    renewal_notice_days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class WebhookKeySerializer(serializers.Serializer):
    webhook_key = serializers.CharField()
