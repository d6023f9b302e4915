"""Writes of pipelines and their stages: the default pipeline, ordering, limits."""

from django.db import IntegrityError, transaction
from django.db.models import F, Max, ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import Conflict, NotFound, ValidationFailed
from crm.models import Tenant
from crm.service_kit import apply_changes, validate
from pipelines.models import MAX_PIPELINES_PER_TENANT, MAX_STAGES_PER_PIPELINE, Lead, Pipeline, Stage, StageOutcome
from pipelines.services.loss_reasons import loss_reasons_ensure_defaults

DEFAULT_PIPELINE_NAME = "Основная"
# (name, is_closed, outcome); migration 0007 carries a copy of the outcomes (SPEC §12).
DEFAULT_STAGES = [
    ("Новые", False, None),
    ("В работе", False, None),
    ("Переговоры", False, None),
    ("Успешно", True, StageOutcome.WON),
    ("Отказ", True, StageOutcome.LOST),
]
PIPELINE_EDITABLE_FIELDS = ("name", "is_default")
STAGE_EDITABLE_FIELDS = ("name", "order_index", "color", "is_closed", "outcome")
# Temporary shift used while renumbering stages, above any order_index a client may send.
_ORDER_SHIFT = 1_000_000


class StageHasLeads(Conflict):
    code, default_message = "stage_has_leads", "The stage still holds leads; move them first."


def _lock_tenant(tenant: Tenant) -> None:
    # FOR NO KEY UPDATE serialises pipeline-structure writes of one tenant without blocking inserts that
    # reference the tenant row (those take FOR KEY SHARE).
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).exists()


@transaction.atomic
def default_pipeline_ensure(*, tenant: Tenant) -> tuple[Pipeline, bool]:
    """Give the tenant its default pipeline «Основная» with the standard stages (a won and a lost one) and the
    default loss reasons, unless it has a default pipeline already (the tenant setup hook, SPEC §12)."""
    _lock_tenant(tenant)
    existing = Pipeline.objects.filter(tenant=tenant, is_default=True).first()
    if existing is not None:
        return existing, False
    pipeline = Pipeline.objects.create(tenant=tenant, name=DEFAULT_PIPELINE_NAME, is_default=True)
    Stage.objects.bulk_create(
        Stage(tenant=tenant, pipeline=pipeline, name=name, order_index=index, is_closed=is_closed, outcome=outcome)
        for index, (name, is_closed, outcome) in enumerate(DEFAULT_STAGES)
    )
    loss_reasons_ensure_defaults(tenant=tenant)
    return pipeline, True


def _clear_other_defaults(pipeline: Pipeline) -> None:
    Pipeline.objects.filter(tenant_id=pipeline.tenant_id, is_default=True).exclude(pk=pipeline.pk).update(
        is_default=False, updated_at=timezone.now()
    )


def _save_pipeline(pipeline: Pipeline, **save_kwargs) -> None:
    try:
        with transaction.atomic():
            pipeline.save(**save_kwargs)
    except IntegrityError as exc:
        # Only the one-default constraint can fail here; the tenant lock makes it a last line of defence.
        raise Conflict(_("Another pipeline became the default at the same time; retry.")) from exc


@transaction.atomic
def pipeline_create(*, tenant: Tenant, name: str, is_default: bool = False) -> Pipeline:
    """Create a pipeline (no stages yet); making it the default clears the flag on the others."""
    _lock_tenant(tenant)
    if Pipeline.objects.filter(tenant=tenant).count() >= MAX_PIPELINES_PER_TENANT:
        raise Conflict(_("A tenant has at most %(limit)s pipelines.") % {"limit": MAX_PIPELINES_PER_TENANT})
    pipeline = Pipeline(tenant=tenant, name=name, is_default=is_default)
    validate(pipeline)
    if is_default:
        _clear_other_defaults(pipeline)
    _save_pipeline(pipeline)
    return pipeline


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline, **fields) -> Pipeline:
    """Rename a pipeline or make it the default (the default flag moves; it is never simply removed)."""
    _lock_tenant(pipeline.tenant)
    pipeline = Pipeline.objects.get(pk=pipeline.pk)
    if fields.get("is_default") is False and pipeline.is_default:
        raise ValidationFailed.for_field("is_default", _("Make another pipeline the default instead."))
    apply_changes(pipeline, PIPELINE_EDITABLE_FIELDS, fields)
    validate(pipeline)
    if pipeline.is_default:
        _clear_other_defaults(pipeline)
    _save_pipeline(pipeline)
    return pipeline


def _lock_pipeline(pipeline: Pipeline) -> Pipeline:
    return Pipeline.objects.select_for_update(no_key=True).get(pk=pipeline.pk)


def _make_room(*, pipeline: Pipeline, order_index: int, moving: Stage | None = None) -> None:
    """Shift the stages at `order_index` and after it one place down, so the position is free.

    The unique (pipeline, order_index) constraint is checked row by row, so the moving stage is parked out
    of the way and the others pass through a temporary range above every real index.
    """
    others = Stage.objects.filter(pipeline=pipeline)
    if moving is not None:
        others = others.exclude(pk=moving.pk)
    if not others.filter(order_index=order_index).exists():
        return
    if moving is not None:
        Stage.objects.filter(pk=moving.pk).update(order_index=2 * _ORDER_SHIFT)
    shifted = others.filter(order_index__gte=order_index)
    shifted_ids = list(shifted.values_list("pk", flat=True))
    shifted.update(order_index=F("order_index") + _ORDER_SHIFT + 1)
    Stage.objects.filter(pk__in=shifted_ids).update(order_index=F("order_index") - _ORDER_SHIFT)


@transaction.atomic
def stage_create(
    *,
    pipeline: Pipeline,
    name: str,
    order_index: int | None = None,
    color: str | None = None,
    is_closed: bool | None = None,
    outcome: str | None = None,
) -> Stage:
    """Add a stage; at an occupied `order_index` it goes in before the stage there (later ones shift).

    A won or lost stage is closed: `is_closed` follows `outcome` unless given (a contradiction is a 400).
    """
    pipeline = _lock_pipeline(pipeline)
    stages = Stage.objects.filter(pipeline=pipeline)
    if stages.count() >= MAX_STAGES_PER_PIPELINE:
        raise Conflict(_("A pipeline has at most %(limit)s stages.") % {"limit": MAX_STAGES_PER_PIPELINE})
    if order_index is None:
        last = stages.aggregate(last=Max("order_index"))["last"]
        order_index = 0 if last is None else last + 1
    stage = Stage(
        tenant_id=pipeline.tenant_id,
        pipeline=pipeline,
        name=name,
        order_index=order_index,
        color=color,
        is_closed=bool(outcome) if is_closed is None else is_closed,
        outcome=outcome,
    )
    validate(stage)
    _make_room(pipeline=pipeline, order_index=order_index)
    stage.save()
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, **fields) -> Stage:
    """Rename, recolour, reorder (later stages shift on a collision), open/close a stage or set its outcome.

    Giving a stage an outcome closes it (unless `is_closed` is given too: a contradiction is a 400).
    """
    _lock_pipeline(stage.pipeline)
    stage = Stage.objects.get(pk=stage.pk)
    if fields.get("outcome") and "is_closed" not in fields:
        fields = {**fields, "is_closed": True}
    apply_changes(stage, STAGE_EDITABLE_FIELDS, fields)
    validate(stage)
    if "order_index" in fields:
        _make_room(pipeline=stage.pipeline, order_index=stage.order_index, moving=stage)
    stage.save()
    return stage


@transaction.atomic
def stage_delete(*, stage: Stage) -> None:
    """Delete an empty stage; one that still holds leads is a 409 `stage_has_leads`."""
    _lock_pipeline(stage.pipeline)
    # FOR UPDATE waits for the writes holding the stage (leads._hold_stage) to commit, so the check below sees
    # their leads; a stage deleted by a concurrent request is gone.
    if not Stage.objects.for_tenant(stage.tenant_id).select_for_update().filter(pk=stage.pk).exists():
        raise NotFound(_("Stage %(id)s not found.") % {"id": stage.pk})
    if Lead.objects.filter(stage=stage).exists():
        raise StageHasLeads(_("Stage «%(name)s» still holds leads; move them first.") % {"name": stage.name})
    try:
        with transaction.atomic():
            stage.delete()
    except ProtectedError as exc:
        raise StageHasLeads(_("Stage «%(name)s» still holds leads; move them first.") % {"name": stage.name}) from exc
