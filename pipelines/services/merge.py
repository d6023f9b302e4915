"""Merging a duplicate lead into another (SPEC §12): one lead keeps everything both had, the other is gone."""

from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import NotFound, ValidationFailed
from crm.models import User
from crm.tenancy import check_may_touch
from crm.versions import save_bumped
from events.services import lead_deleted_emit
from pipelines.models import HistoryKind, Lead
from pipelines.services.erasure import lock_lead_contacts
from pipelines.services.leads import LEAD_FIELD_LABELS, lead_emit, lead_history_record

# Fields of the surviving lead filled from the merged one where empty. The stage, source, loss reason and
# timestamps stay the survivor's; a lead that became a deal is never merged away (see lead_merge).
MERGE_FILLED_FIELDS = ("name", "phone", "email", "comment", "price", "external_id", "source_payload", "assigned_to")
_ATTNAMES = {field.name: field.attname for field in Lead._meta.concrete_fields}


@transaction.atomic
def lead_merge(*, lead: Lead, from_lead: Lead, acting_user: User | None = None) -> Lead:
    """Merge `from_lead` into `lead`: its tasks, history (inbound messages included) and delivery ids move over, the
    empty fields of `lead` are filled from it, `from_lead` is deleted; history `merged` on `lead`, `lead_updated`
    for it and `lead_deleted` for the other. Managers only when both leads are theirs."""
    if from_lead.pk == lead.pk:
        raise ValidationFailed.for_field("from_lead_id", _("A lead cannot be merged with itself."))
    if from_lead.tenant_id != lead.tenant_id:
        raise ValidationFailed.for_field("from_lead_id", _("No lead with this id in your tenant."))
    lead, from_lead = _lock_both(lead, from_lead)
    check_may_touch(acting_user, lead, _("This lead is assigned to a colleague."))
    check_may_touch(acting_user, from_lead, _("The lead to merge is assigned to a colleague."))
    if from_lead.deal_id is not None:
        raise ValidationFailed.for_field(
            "from_lead_id", _("This lead became a deal and cannot be merged away: merge the other lead into it.")
        )
    filled = _fill_empty_fields(lead, from_lead)
    _move_rows(from_lead, lead)
    from_id, from_assignee_id = from_lead.pk, from_lead.assigned_to_id
    from_lead.delete()
    save_bumped(lead, update_fields=[*filled, "updated_at"])
    lead_history_record(
        lead=lead, kind=HistoryKind.MERGED, acting_user=acting_user, text=_merged_text(from_id, from_lead, filled)
    )
    lead_deleted_emit(tenant_id=lead.tenant_id, lead_id=from_id, assignee_ids=[from_assignee_id])
    lead_emit("lead_updated", lead)
    return lead


def _lock_both(lead: Lead, from_lead: Lead) -> tuple[Lead, Lead]:
    """Both leads' contacts, then both rows in id order (two merges never wait on each other); read again."""
    lock_lead_contacts(lead, from_lead)
    both = Lead.objects.for_tenant(lead.tenant_id).filter(pk__in=[lead.pk, from_lead.pk])
    list(both.select_for_update().order_by("pk").values_list("pk"))
    rows = {row.pk: row for row in both.select_related("assigned_to")}
    if lead.pk not in rows:
        raise NotFound(_("No such lead (it was just deleted)."))
    if from_lead.pk not in rows:
        raise ValidationFailed.for_field(
            "from_lead_id", _("No lead with this id in your tenant (it was just deleted).")
        )
    return rows[lead.pk], rows[from_lead.pk]


def _is_empty(lead: Lead, name: str) -> bool:
    value = getattr(lead, _ATTNAMES[name])
    if name == "name":
        # A lead created without a name is named by its phone or email (lead_create): a real name replaces that.
        return not value or value in (lead.phone, lead.email)
    return value is None or value == ""


def _fill_empty_fields(lead: Lead, from_lead: Lead) -> list[str]:
    filled = []
    for name in MERGE_FILLED_FIELDS:
        if not _is_empty(lead, name) or _is_empty(from_lead, name):
            continue
        if name == "assigned_to" and not (from_lead.assigned_to and from_lead.assigned_to.is_active):
            continue
        setattr(lead, _ATTNAMES[name], getattr(from_lead, _ATTNAMES[name]))
        filled.append(name)
    return filled


def _move_rows(from_lead: Lead, lead: Lead) -> None:
    """Every row that belongs to the merged lead (its foreign key cascades: history, delivery ids, the tasks app's
    tasks) now belongs to the survivor; rows with a version count the move as a change. Found from the model's
    relations, so pipelines imports no app that hangs rows off leads."""
    now = timezone.now()
    # Hidden ones too: a foreign key with related_name="+" (delivery ids) has no reverse accessor but is a relation.
    for relation in Lead._meta.get_fields(include_hidden=True):
        if not isinstance(relation, models.ManyToOneRel) or relation.on_delete is not models.CASCADE:
            continue
        model, field_name = relation.related_model, relation.field.name
        changes: dict[str, Any] = {field_name: lead}
        field_names = {field.name for field in model._meta.concrete_fields}
        if "version" in field_names:
            changes["version"] = models.F("version") + 1
        if "updated_at" in field_names:
            changes["updated_at"] = now
        model._base_manager.filter(**{field_name: from_lead}).update(**changes)


def _merged_text(from_id: int, from_lead: Lead, filled: list[str]) -> str:
    contacts = ", ".join(value for value in (from_lead.phone, from_lead.email) if value)
    text = f"Объединён с лидом #{from_id} «{from_lead.name}»" + (f" ({contacts})" if contacts else "")
    if filled:
        text += "; заполнено: " + ", ".join(LEAD_FIELD_LABELS[field] for field in filled)
    return text
