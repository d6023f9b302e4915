"""Tenants, users and the stored responses of idempotent creates."""

import secrets
import uuid
import zoneinfo

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower


def generate_webhook_key() -> str:
    return secrets.token_urlsafe(24)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"«{value}» is not an IANA time zone name.")


def validate_phone_region(value: str) -> None:
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"«{value}» is not a phone region code (ISO 3166-1 alpha-2, e.g. RU).")


class Tenant(models.Model):
    """A customer company: every business row belongs to exactly one tenant."""

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=64, unique=True)
    timezone = models.CharField(max_length=64, default="Europe/Moscow", validators=[validate_timezone])
    phone_region = models.CharField(max_length=2, default="RU", validators=[validate_phone_region])
    webhook_key = models.CharField(max_length=64, unique=True, default=generate_webhook_key)
    whatsapp_app_secret = models.CharField(max_length=255, blank=True, default="")
    whatsapp_verify_token = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Role(models.TextChoices):
    OWNER = "owner", "Владелец"
    ROP = "rop", "РОП"
    ADMIN = "admin", "Администратор"
    MANAGER = "manager", "Менеджер"


SUPERVISOR_ROLES = frozenset({Role.OWNER, Role.ROP, Role.ADMIN})
# Who may manage users and tenant settings through the API.
ACCOUNT_ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})
# Who gets into the Django admin (the back-office) for their tenant.
STAFF_ROLES = frozenset({Role.OWNER, Role.ROP})


class User(AbstractUser):
    """A person who signs in. Integer `id` for /api, `uuid` for /api/v1; null tenant only for platform superusers."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="users")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER)
    full_name = models.CharField(max_length=255, blank=True, default="")

    objects = UserManager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="crm_user_username_ci_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def is_supervisor(self) -> bool:
        """Owners, ROPs and admins see the whole tenant; managers see what is theirs."""
        return self.role in SUPERVISOR_ROLES

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class IdempotencyKey(models.Model):
    """The first response to a v1 create sent with an `Idempotency-Key`, replayed for 24 h (SPEC §9)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    key = models.UUIDField()
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "key"], name="crm_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return str(self.key)

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None
