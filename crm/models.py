"""Tenants, users and the stored responses of idempotent creates."""

import secrets
import uuid
import zoneinfo
from typing import ClassVar, Self

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def generate_webhook_key() -> str:
    return secrets.token_urlsafe(24)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("«%(value)s» is not an IANA time zone name.") % {"value": value})


def validate_phone_region(value: str) -> None:
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            _("«%(value)s» is not a phone region code (ISO 3166-1 alpha-2, e.g. RU).") % {"value": value}
        )


class LeadDistribution(models.TextChoices):
    NONE = "none", _("Нет")
    ROUND_ROBIN = "round_robin", _("По очереди")


class Tenant(models.Model):
    """A customer company: every business row belongs to exactly one tenant."""

    name = models.CharField(max_length=255, verbose_name=_("название"))
    slug = models.SlugField(max_length=64, unique=True, verbose_name=_("короткое имя"))
    timezone = models.CharField(
        max_length=64, default="Europe/Moscow", validators=[validate_timezone], verbose_name=_("часовой пояс")
    )
    phone_region = models.CharField(
        max_length=2, default="RU", validators=[validate_phone_region], verbose_name=_("регион телефонов")
    )
    webhook_key = models.CharField(
        max_length=64, unique=True, default=generate_webhook_key, verbose_name=_("ключ вебхуков")
    )
    whatsapp_app_secret = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("секрет приложения WhatsApp")
    )
    whatsapp_verify_token = models.CharField(
        max_length=255, blank=True, default="", verbose_name=_("токен проверки WhatsApp")
    )
    # SPEC §12: how webhook leads get an assignee; the users in turn (empty: every active manager).
    lead_distribution = models.CharField(
        max_length=16,
        choices=LeadDistribution.choices,
        default=LeadDistribution.NONE,
        verbose_name=_("распределение лидов"),
    )
    distribution_user_ids = models.JSONField(default=list, blank=True, verbose_name=_("участники распределения"))
    # The user the last distributed lead went to: the next one goes to whoever follows them in turn (kept, not
    # derived from the leads, which may be reassigned or erased since).
    distribution_cursor_user_id = models.BigIntegerField(null=True, blank=True, editable=False)
    # SPEC §13: an active policy ending within this many days of today becomes `renewal_due`.
    renewal_notice_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(365)], verbose_name=_("дней до продления")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("создано"))

    class Meta:
        verbose_name = _("организация")
        verbose_name_plural = _("организации")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Role(models.TextChoices):
    OWNER = "owner", _("Владелец")
    ROP = "rop", _("РОП")
    ADMIN = "admin", _("Администратор")
    MANAGER = "manager", _("Менеджер")


SUPERVISOR_ROLES = frozenset({Role.OWNER, Role.ROP, Role.ADMIN})
# Who may manage users and tenant settings through the API.
ACCOUNT_ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})
# Who gets into the Django admin (the back-office) for their tenant.
STAFF_ROLES = frozenset({Role.OWNER, Role.ROP})


# A change of any of these revokes the user's tokens (User.save).
_CREDENTIAL_FIELDS = ("password", "role", "is_active")


class User(AbstractUser):
    """A person who signs in. Integer `id` for /api, `uuid` for /api/v1; null tenant only for platform superusers."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="users", verbose_name=_("организация")
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER, verbose_name=_("роль"))
    full_name = models.CharField(max_length=255, blank=True, default="", verbose_name=_("полное имя"))
    # Bumped by every save that changes the password, the role or is_active: our tokens carry it as a claim and
    # stop working when it moves on (crm.tokens). `tokens_revoked_at` does the same for Gateway tokens via `iat`.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    tokens_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[UserManager[Self]] = UserManager()

    class Meta:
        verbose_name = _("пользователь")
        verbose_name_plural = _("пользователи")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="crm_user_username_ci_unique",
                violation_error_message=_("This username is taken."),
            ),
            # Email is a login string (SPEC §15): one active holder at most, whatever the case.
            models.UniqueConstraint(
                Lower("email"),
                condition=Q(is_active=True) & ~Q(email=""),
                name="crm_user_active_email_ci_unique",
                violation_error_message=_("This email is taken."),
            ),
        ]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return self.full_name or self.username

    @classmethod
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._remember_credentials()
        return user

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        self._remember_credentials()

    def save(self, *args, **kwargs):
        """Revoke the user's tokens in the same UPDATE that changes the password, the role or is_active.

        The model owns the rule, so every path (API, admin password form, shell, commands) revokes alike.
        """
        revoke = not self._state.adding and self._credentials_changed()
        if revoke:
            self.token_version = F("token_version") + 1  # atomic: concurrent revocations never undo one another
            self.tokens_revoked_at = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "token_version", "tokens_revoked_at"}
        super().save(*args, **kwargs)
        if revoke:
            super().refresh_from_db(fields=["token_version"])
        self._remember_credentials()

    def _remember_credentials(self) -> None:
        # Only loaded fields: reading a deferred one here would cost a query per row.
        self._saved_credentials = {name: self.__dict__[name] for name in _CREDENTIAL_FIELDS if name in self.__dict__}

    def _credentials_changed(self) -> bool:
        saved = getattr(self, "_saved_credentials", {})
        return any(
            name in self.__dict__ and (name not in saved or saved[name] != self.__dict__[name])
            for name in _CREDENTIAL_FIELDS
        )

    @property
    def is_supervisor(self) -> bool:
        """Owners, ROPs and admins see the whole tenant; managers see what is theirs."""
        return self.role in SUPERVISOR_ROLES

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class IdempotencyKey(models.Model):
    """The first response to a v1 create sent with an `Idempotency-Key`, replayed for 24 h (SPEC §9)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, verbose_name=_("организация"))
    user = models.ForeignKey(User, on_delete=models.CASCADE, verbose_name=_("пользователь"))
    key = models.UUIDField(verbose_name=_("ключ"))
    request_fingerprint = models.CharField(max_length=64, verbose_name=_("отпечаток запроса"))
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("статус ответа"))
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("тело ответа"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("создано"))

    class Meta:
        verbose_name = _("ключ идемпотентности")
        verbose_name_plural = _("ключи идемпотентности")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "key"], name="crm_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return str(self.key)

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None
