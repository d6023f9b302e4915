"""Clients of the brokerage: people and companies with their contacts."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.versions import version_field
from deals.models.base import UUIDTenantModel

MAX_CONTACTS = 50


class ClientType(models.TextChoices):
    INDIVIDUAL = "individual", _("Физическое лицо")
    COMPANY = "company", _("Компания")


class ClientStatus(models.TextChoices):
    POTENTIAL = "potential", _("Потенциальный")
    ACTIVE = "active", _("Активный")
    INACTIVE = "inactive", _("Неактивный")


class ContactType(models.TextChoices):
    PHONE = "phone", _("Телефон")
    EMAIL = "email", "Email"
    TELEGRAM = "telegram", "Telegram"
    WHATSAPP = "whatsapp", "WhatsApp"
    OTHER = "other", _("Другое")


CONTACT_KEYS = frozenset({"type", "value", "name", "is_primary"})


def validate_contacts(value) -> None:
    """The stored shape of `contacts` (the API validates the same rules field by field; this guards the admin)."""
    if not isinstance(value, list) or len(value) > MAX_CONTACTS:
        raise ValidationError(_("A list of at most %(limit)s contacts is expected.") % {"limit": MAX_CONTACTS})
    for contact in value:
        if not isinstance(contact, dict) or set(contact) - CONTACT_KEYS:
            raise ValidationError(
                _("Each contact is an object with keys %(keys)s.") % {"keys": ", ".join(sorted(CONTACT_KEYS))}
            )
        if contact.get("type") not in ContactType.values:
            raise ValidationError(
                _("Contact type must be one of %(types)s.") % {"types": ", ".join(ContactType.values)}
            )
        if not isinstance(contact.get("value"), str) or not 0 < len(contact["value"]) <= 255:
            raise ValidationError(_("Contact value must be a non-empty string of at most 255 characters."))
        if not isinstance(contact.get("name", ""), str) or len(contact.get("name", "")) > 255:
            raise ValidationError(_("Contact name must be a string of at most 255 characters."))
        if not isinstance(contact.get("is_primary", False), bool):
            raise ValidationError(_("Contact is_primary must be a boolean."))


class Client(UUIDTenantModel):
    """A person or company the brokerage insures; `search_text` is the denormalised haystack for `search`."""

    type = models.CharField(max_length=16, choices=ClientType.choices, verbose_name=_("тип"))
    full_name = models.CharField(max_length=255, verbose_name=_("полное наименование"))
    short_name = models.CharField(max_length=255, blank=True, default="", verbose_name=_("краткое наименование"))
    tax_number = models.CharField(max_length=32, blank=True, default="", verbose_name=_("ИНН"))
    registration_number = models.CharField(max_length=32, blank=True, default="", verbose_name=_("ОГРН"))
    segment = models.CharField(max_length=255, blank=True, default="", verbose_name=_("сегмент"))
    status = models.CharField(max_length=16, choices=ClientStatus.choices, verbose_name=_("статус"))
    contacts = models.JSONField(default=list, blank=True, validators=[validate_contacts], verbose_name=_("контакты"))
    notes = models.TextField(max_length=10_000, blank=True, default="", verbose_name=_("заметки"))
    search_text = models.TextField(blank=True, default="", editable=False)
    version = version_field()

    class Meta:
        verbose_name = _("клиент")
        verbose_name_plural = _("клиенты")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "tax_number"], condition=~Q(tax_number=""), name="deals_client_tax_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="deals_client_list_idx"),
            models.Index(fields=["tenant", "status", "-created_at", "-id"], name="deals_client_status_idx"),
        ]

    def __str__(self) -> str:
        return self.short_name or self.full_name

    def refresh_search_text(self) -> None:
        """Names, tax number and contact values in one column, so one trigram index serves `search`."""
        parts = [self.full_name, self.short_name, self.tax_number]
        parts += [contact.get("value", "") for contact in self.contacts or []]
        self.search_text = "\n".join(part for part in parts if part)
