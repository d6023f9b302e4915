"""Writes of leads: create, edit, move between stages, messages; each records history and emits one event."""

from decimal import Decimal

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.charts import money
from crm.errors import Forbidden, ValidationFailed
from crm.i18n import stored
from crm.models import Tenant, User
from crm.service_kit import apply_changes, validate
from crm.tenancy import check_may_touch, sees_whole_tenant
from crm.versions import ANY, Expected, save_bumped
from events.services import LeadEventType, lead_event_emit
from pipelines.models import HistoryKind, Lead, LeadHistory, LeadSource, LossReason, Pipeline, Stage
from pipelines.services.structure import default_pipeline_ensure

LEAD_EDITABLE_FIELDS = ("name", "phone", "email", "comment", "assigned_to", "price")
# How history texts name a lead's fields (edits here, fields filled by a merge).
LEAD_FIELD_LABELS = {
    "name": "имя",
    "phone": "телефон",
    "email": "email",
    "comment": "комментарий",
    "price": "бюджет",
    "external_id": "внешний id",
    "source_payload": "данные заявки",
    "assigned_to": "ответственный",
}
# Fields whose edits share one «updated» history entry (the comment and the assignee get entries of their own).
_EDITED_IN_ONE_ENTRY = ("name", "phone", "email", "price")


def phone_normalize(raw: str | None, *, region: str, field: str = "phone") -> str | None:
    """E.164 form of a phone number written in any usual way (`8 916 …` is read in the tenant's region)."""
    if raw is None or not str(raw).strip():
        return None
    try:
        number = phonenumbers.parse(str(raw), region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed.for_field(
            field, _("«%(value)s» is not a phone number.") % {"value": str(raw)[:40]}
        ) from exc
    if not phonenumbers.is_possible_number(number):
        raise ValidationFailed.for_field(
            field, _("«%(value)s» is not a possible phone number.") % {"value": str(raw)[:40]}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_normalize(raw: str | None, *, field: str = "email") -> str | None:
    """A trimmed, validated email, or None when empty."""
    if raw is None or not str(raw).strip():
        return None
    value = str(raw).strip()
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise ValidationFailed.for_field(
            field, _("«%(value)s» is not an email address.") % {"value": value[:60]}
        ) from exc
    if len(value) > 254:
        raise ValidationFailed.for_field(field, _("At most 254 characters."))
    return value


def _first_open_stage(pipeline: Pipeline) -> Stage:
    stage = Stage.objects.filter(pipeline=pipeline, is_closed=False).order_by("order_index", "id").first()
    if stage is None:
        raise ValidationFailed.for_field(
            "pipeline_id", _("Pipeline «%(name)s» has no open stage.") % {"name": pipeline.name}
        )
    return stage


def _default_stage(tenant: Tenant) -> Stage:
    """The default pipeline's first open stage, with its pipeline, in one query (intake's hot path)."""
    open_stages = Stage.objects.for_tenant(tenant).select_related("pipeline").filter(is_closed=False)
    stage = open_stages.filter(pipeline__is_default=True).order_by("order_index", "id").first()
    if stage is None:
        pipeline, _ = default_pipeline_ensure(tenant=tenant)
        stage = _first_open_stage(pipeline)
    return stage


def _check_assignee(*, tenant: Tenant, assigned_to: User | None) -> None:
    if assigned_to is not None and (assigned_to.tenant_id != tenant.pk or not assigned_to.is_active):
        raise ValidationFailed.for_field("assigned_to_user_id", _("No active user with this id in your tenant."))


def lead_emit(event_type: LeadEventType, lead: Lead, previous_assignee_id: int | None = None) -> None:
    """The lead's stream and webhook event, to its tenant and to its assignee (and the previous one on a reassign)."""
    lead_event_emit(
        event_type=event_type,
        tenant_id=lead.tenant_id,
        lead_id=lead.pk,
        assignee_ids=[lead.assigned_to_id, previous_assignee_id],
    )


def lead_history_record(
    *,
    lead: Lead,
    kind: str,
    acting_user: User | None = None,
    text: str = "",
    from_stage: Stage | None = None,
    to_stage: Stage | None = None,
    payload=None,
) -> LeadHistory:
    """Append one entry to a lead's history (no event: the caller emits once per change)."""
    return LeadHistory.objects.create(
        tenant_id=lead.tenant_id,
        lead=lead,
        kind=kind,
        user=acting_user,
        text=text,
        from_stage=from_stage,
        to_stage=to_stage,
        payload=payload,
    )


@transaction.atomic
def lead_touch(*, lead: Lead, kind: str, acting_user: User | None = None, text: str = "", payload=None) -> LeadHistory:
    """Record an activity on a lead (a task, an inbound message with its raw payload) and emit `lead_updated` once."""
    entry = lead_history_record(lead=lead, kind=kind, acting_user=acting_user, text=text, payload=payload)
    Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now())
    lead_emit("lead_updated", lead)
    return entry


@transaction.atomic
def lead_create(
    *,
    tenant: Tenant,
    acting_user: User | None = None,
    name: str = "",
    phone: str | None = None,
    email: str | None = None,
    comment: str = "",
    source: str = LeadSource.MANUAL,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    assigned_to: User | None = None,
    external_id: str | None = None,
    source_payload=None,
    price: Decimal | None = None,
) -> Lead:
    """Create a lead in a stage (default: the default pipeline's first open stage); emits `lead_created`.

    `acting_user` is who creates it (None for webhooks); a manager's lead is always assigned to them.
    """
    assigned_to = _creation_assignee(tenant=tenant, acting_user=acting_user, assigned_to=assigned_to)
    phone = phone_normalize(phone, region=tenant.phone_region)
    email = email_normalize(email)
    name = (name or "").strip() or phone or email or ""
    if not name:
        raise ValidationFailed.for_field("name", _("Give a name, a phone or an email."))
    pipeline, stage = _creation_place(tenant=tenant, pipeline=pipeline, stage=stage)
    _hold_stage(stage)
    now = timezone.now()
    lead = Lead(
        tenant=tenant,
        name=name,
        phone=phone,
        email=email,
        comment=comment or "",
        source=source,
        pipeline=pipeline,
        stage=stage,
        moved_to_stage_at=now,
        assigned_to=assigned_to,
        external_id=external_id or None,
        source_payload=source_payload,
        price=price,
    )
    validate(lead)
    lead.save()
    lead_history_record(
        lead=lead,
        kind=HistoryKind.CREATED,
        acting_user=acting_user,
        text=f"Лид создан ({stored(LeadSource(source).label)}), стадия «{stage.name}»",
        to_stage=stage,
        payload=source_payload,
    )
    lead_emit("lead_created", lead)
    return lead


def _creation_assignee(*, tenant: Tenant, acting_user: User | None, assigned_to: User | None) -> User | None:
    """Whom a new lead is assigned to: a manager's own lead is always theirs; others name an active colleague."""
    if acting_user is not None and not sees_whole_tenant(acting_user):
        if assigned_to is not None and assigned_to.pk != acting_user.pk:
            raise Forbidden(_("A manager may only assign a lead to themself."))
        assigned_to = acting_user
    _check_assignee(tenant=tenant, assigned_to=assigned_to)
    return assigned_to


def _creation_place(*, tenant: Tenant, pipeline: Pipeline | None, stage: Stage | None) -> tuple[Pipeline, Stage]:
    """The pipeline and stage a new lead starts in: the stage given, else the pipeline's (or the default pipeline's)
    first open stage; both of the tenant's."""
    if stage is not None:
        if pipeline is not None and stage.pipeline_id != pipeline.pk:
            raise ValidationFailed.for_field("stage_id", _("The stage belongs to another pipeline."))
        pipeline = stage.pipeline
        wrong_tenant_field = "stage_id"
    elif pipeline is not None:
        stage = _first_open_stage(pipeline)
        wrong_tenant_field = "pipeline_id"
    else:
        stage = _default_stage(tenant)
        pipeline = stage.pipeline
    if pipeline.tenant_id != tenant.pk:
        raise ValidationFailed.for_field(wrong_tenant_field, _("Not in your tenant."))
    return pipeline, stage


# A fixed table name; the id is a parameter.
_HOLD_STAGE_SQL = f"SELECT 1 FROM {Stage._meta.db_table} WHERE id = %s FOR KEY SHARE"  # noqa: S608


def _hold_stage(stage: Stage) -> None:
    """Keep the stage from being deleted until this transaction ends (FOR KEY SHARE on its row).

    Foreign keys are checked only at COMMIT (Django makes them DEFERRABLE INITIALLY DEFERRED), so a lead written
    into a stage deleted meanwhile failed there with an IntegrityError (a 500). With the row held, a concurrent
    `stage_delete` (FOR UPDATE) waits for this write and then sees the lead (409 stage_has_leads); a write that
    comes second waits for the delete and finds no stage (400). Other moves into the stage are not blocked.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_HOLD_STAGE_SQL, [stage.pk])
            held = cursor.fetchone() is not None
    else:
        held = Stage.objects.for_tenant(stage.tenant_id).filter(pk=stage.pk).exists()
    if not held:
        raise ValidationFailed.for_field("stage_id", _("No stage with this id in your tenant (it was just deleted)."))


def lead_lock(lead: Lead) -> Lead:
    """The lead afresh under its row lock, with its stage, pipeline, assignee and tenant (every lead write's start).

    A check made after this (the role rule, the assignee) cannot be overtaken by a concurrent reassignment.
    """
    # Lock the bare row first: FOR UPDATE over joins re-checks a concurrently moved lead against the stage row
    # it was first joined to and would drop it. After the lock, a fresh read sees the committed state.
    Lead.objects.select_for_update().filter(pk=lead.pk).values_list("pk").get()
    return Lead.objects.select_related("stage", "pipeline", "assigned_to", "tenant").get(pk=lead.pk)


@transaction.atomic
def lead_update(*, lead: Lead, acting_user: User | None = None, expected: Expected = ANY, **fields) -> Lead:
    """Edit name, phone, email, comment, budget or assignee; one history entry per kind of change, one event.

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    lead = lead_lock(lead)
    check_may_touch(acting_user, lead, _("This lead is assigned to a colleague."))
    expected.check(lead.version)
    previous_assignee = lead.assigned_to
    fields = _normalized(lead.tenant, fields)
    if "assigned_to" in fields and getattr(fields["assigned_to"], "pk", None) != lead.assigned_to_id:
        if acting_user is not None and not sees_whole_tenant(acting_user):
            raise Forbidden(_("A manager may not reassign a lead."))
        _check_assignee(tenant=lead.tenant, assigned_to=fields["assigned_to"])
    changed = apply_changes(lead, LEAD_EDITABLE_FIELDS, fields)
    if not changed:
        return lead
    validate(lead)
    save_bumped(lead)
    _record_update(lead, changed, acting_user=acting_user, previous_assignee=previous_assignee)
    lead_emit("lead_updated", lead, previous_assignee_id=getattr(previous_assignee, "pk", None))
    return lead


def _normalized(tenant, fields: dict) -> dict:
    """The edited values as stored: phone in E.164, email lower-cased, name trimmed and required, comment a string."""
    fields = dict(fields)
    if "phone" in fields:
        fields["phone"] = phone_normalize(fields["phone"], region=tenant.phone_region)
    if "email" in fields:
        fields["email"] = email_normalize(fields["email"])
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"]:
            raise ValidationFailed.for_field("name", _("The name may not be empty."))
    if "comment" in fields:
        fields["comment"] = fields["comment"] or ""
    return fields


def _record_update(lead: Lead, changed: list[str], *, acting_user, previous_assignee) -> None:
    """One history entry per kind of change: edited fields, the comment, the assignee."""
    edited = [name for name in changed if name in _EDITED_IN_ONE_ENTRY]
    if edited:
        text = "; ".join(f"{LEAD_FIELD_LABELS[name]}: {_shown(lead, name)}" for name in edited)
        lead_history_record(lead=lead, kind=HistoryKind.UPDATED, acting_user=acting_user, text=f"Изменено — {text}")
    if "comment" in changed:
        lead_history_record(
            lead=lead, kind=HistoryKind.COMMENT, acting_user=acting_user, text=f"Комментарий: {lead.comment}"
        )
    if "assigned_to" in changed:
        before = previous_assignee.display_name if previous_assignee else "—"
        after = lead.assigned_to.display_name if lead.assigned_to else "—"
        lead_history_record(
            lead=lead, kind=HistoryKind.ASSIGNED, acting_user=acting_user, text=f"Ответственный: {before} → {after}"
        )


def _shown(lead: Lead, name: str) -> str:
    value = getattr(lead, name)
    if name == "price":
        return money(value)  # «—» for none; a budget of 0 is still a value
    return value or "—"


@transaction.atomic
def lead_move_to_stage(
    *,
    lead: Lead,
    stage: Stage,
    loss_reason: LossReason | None = None,
    acting_user: User | None = None,
    expected: Expected = ANY,
) -> Lead:
    """Move a lead to a stage of its tenant (another pipeline's stage moves it there too); history + event.

    `loss_reason` only with a move into a lost stage (or to name the reason of a lead already there); leaving a
    lost stage clears the reason (SPEC §12).
    """
    lead = lead_lock(lead)
    check_may_touch(acting_user, lead, _("This lead is assigned to a colleague."))
    expected.check(lead.version)
    if stage.tenant_id != lead.tenant_id:
        raise ValidationFailed.for_field("stage_id", _("No stage with this id in your tenant."))
    _check_loss_reason(lead=lead, stage=stage, loss_reason=loss_reason)
    if stage.pk == lead.stage_id:
        return _set_loss_reason(lead, loss_reason, acting_user=acting_user)
    _hold_stage(stage)
    from_stage = lead.stage
    text = f"Стадия: «{from_stage.name}» → «{stage.name}»"
    if stage.pipeline_id != lead.pipeline_id:
        text += f" (воронка «{lead.pipeline.name}» → «{stage.pipeline.name}»)"
    if loss_reason is not None:
        text += f", причина отказа: «{loss_reason.name}»"
    lead.stage = stage
    lead.pipeline_id = stage.pipeline_id
    lead.loss_reason = loss_reason
    lead.moved_to_stage_at = timezone.now()
    save_bumped(lead, update_fields=["stage", "pipeline", "loss_reason", "moved_to_stage_at", "updated_at"])
    lead_history_record(
        lead=lead,
        kind=HistoryKind.STAGE_CHANGED,
        acting_user=acting_user,
        text=text,
        from_stage=from_stage,
        to_stage=stage,
    )
    lead_emit("lead_updated", lead)
    return lead


def _check_loss_reason(*, lead: Lead, stage: Stage, loss_reason: LossReason | None) -> None:
    if loss_reason is None:
        return
    if loss_reason.tenant_id != lead.tenant_id:
        raise ValidationFailed.for_field("loss_reason_id", _("No loss reason with this id in your tenant."))
    if not stage.is_lost:
        raise ValidationFailed.for_field("loss_reason_id", _("A loss reason goes only with a move into a lost stage."))
    if not loss_reason.is_active and loss_reason.pk != lead.loss_reason_id:
        raise ValidationFailed.for_field(
            "loss_reason_id", _("The loss reason «%(name)s» is no longer used.") % {"name": loss_reason.name}
        )


def _set_loss_reason(lead: Lead, loss_reason: LossReason | None, *, acting_user: User | None) -> Lead:
    """A lead already in the lost stage: name (or rename) its reason; no reason given changes nothing."""
    if loss_reason is None or loss_reason.pk == lead.loss_reason_id:
        return lead
    lead.loss_reason = loss_reason
    save_bumped(lead, update_fields=["loss_reason", "updated_at"])
    lead_history_record(
        lead=lead, kind=HistoryKind.UPDATED, acting_user=acting_user, text=f"Причина отказа: «{loss_reason.name}»"
    )
    lead_emit("lead_updated", lead)
    return lead
