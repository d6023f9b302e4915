"""The tenant's loss reasons (SPEC §12): the defaults every tenant starts with, and supervisors' edits."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from crm.errors import ValidationFailed
from crm.models import Tenant
from crm.service_kit import apply_changes, validate
from pipelines.models import LossReason

# The one list of defaults; migration 0007 carries a copy (migrations never import app code).
DEFAULT_LOSS_REASONS = ("Дорого", "Выбрали конкурента", "Не дозвонились", "Нет потребности")
LOSS_REASON_EDITABLE_FIELDS = ("name", "is_active")
_DUPLICATE_NAME = _("The tenant already has a loss reason with this name.")


def loss_reasons_ensure_defaults(*, tenant: Tenant) -> None:
    """Create the default reasons the tenant lacks (names it already has are kept as they are)."""
    existing = set(LossReason.objects.for_tenant(tenant).values_list("name", flat=True))
    LossReason.objects.bulk_create(
        LossReason(tenant=tenant, name=name) for name in DEFAULT_LOSS_REASONS if name not in existing
    )


def _save(reason: LossReason, **save_kwargs) -> None:
    validate(reason)
    duplicates = LossReason.objects.for_tenant(reason.tenant_id).filter(name=reason.name).exclude(pk=reason.pk)
    if duplicates.exists():
        raise ValidationFailed.for_field("name", str(_DUPLICATE_NAME))
    try:
        with transaction.atomic():
            reason.save(**save_kwargs)
    except IntegrityError as exc:
        # Only the unique name can fail here: a concurrent write took the name between the check and the save.
        raise ValidationFailed.for_field("name", str(_DUPLICATE_NAME)) from exc


@transaction.atomic
def loss_reason_create(*, tenant: Tenant, name: str, is_active: bool = True) -> LossReason:
    """Add a reason to the tenant's list; names are unique within the tenant (400 naming `name`)."""
    reason = LossReason(tenant=tenant, name=name, is_active=is_active)
    _save(reason)
    return reason


@transaction.atomic
def loss_reason_update(*, reason: LossReason, **fields) -> LossReason:
    """Rename a reason or (de)activate it; an inactive reason stays on the leads that carry it."""
    apply_changes(reason, LOSS_REASON_EDITABLE_FIELDS, fields)
    _save(reason)
    return reason
