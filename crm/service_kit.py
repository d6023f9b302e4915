"""What every app's services do the same way: validate a model, apply a change, save against constraints, move a
status along its table.

Services take `acting_user: User | None`, the person a write is done for; None is the system (a command, a job,
a platform superuser in the back-office), for which the services skip their role checks.
"""

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from crm.errors import ApplicationError, InvalidStatusTransition, ValidationFailed
from crm.versions import save_bumped


def validate(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """The model's field rules (lengths, choices, decimals, `clean()`) as a 400 `validation_error`.

    `details` maps each field to its messages and `message` is the first of them, as `ValidationFailed.for_field`
    words a service's own refusals. Relations are left to the caller (it resolved them in the tenant), uniqueness
    and constraints to the database (`save_or_conflict`).
    """
    relations = [field.name for field in instance._meta.concrete_fields if field.is_relation]
    try:
        instance.full_clean(exclude=[*relations, *exclude], validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise ValidationFailed(next(iter(exc.message_dict.values()))[0], details=exc.message_dict) from exc


def check_settable(names: Iterable[str], settable: Collection[str], *, message: str | None = None) -> None:
    """The one unknown-field policy of creates and updates: a name the service does not set is a 400 naming it."""
    for name in names:
        if name not in settable:
            raise ValidationFailed.for_field(name, message or _("This field cannot be set."))


def apply_changes(instance: models.Model, editable: Collection[str], changes: Mapping[str, Any]) -> list[str]:
    """Set the changed values on `instance`; returns the names whose value differed, for `save(update_fields=…)`.

    A field the service does not change is a 400 naming it, whatever the other fields hold.
    """
    check_settable(changes, editable, message=_("This field cannot be changed."))
    changed = [name for name, value in changes.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, changes[name])
    return changed


def violated_constraint(exc: IntegrityError, model: type[models.Model]) -> str | None:
    """The name of the constraint an IntegrityError reports (PostgreSQL names it; SQLite lists the columns)."""
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None:
        return diag.constraint_name
    message = str(exc)
    column_of = {field.name: field.column for field in model._meta.concrete_fields}
    for constraint in model._meta.constraints:
        if constraint.name in message:
            return constraint.name
        columns = [column_of[name] for name in getattr(constraint, "fields", ())]
        if columns and message.endswith(", ".join(f"{model._meta.db_table}.{column}" for column in columns)):
            return constraint.name
    return None


def save_or_conflict(
    instance: models.Model, conflicts: Mapping[str, ApplicationError], *, bump: bool = False, **save_kwargs
) -> None:
    """Save in a savepoint; a unique-constraint violation becomes its 409, so concurrent duplicates get one 201.

    `conflicts` maps a constraint name to the error it answers; any other IntegrityError propagates.
    `bump=True` saves a change of a locked row with `version + 1` (crm.versions.save_bumped).
    """
    try:
        with transaction.atomic():
            if bump:
                save_bumped(instance, **save_kwargs)
            else:
                instance.save(**save_kwargs)
    except IntegrityError as exc:
        error = conflicts.get(violated_constraint(exc, type(instance)) or "")
        if error is None:
            raise
        raise error from exc


def status_move(
    instance: models.Model, transitions: Mapping[str, Collection[str]], requested: str, *, http_status: int = 400
) -> bool:
    """Set `instance.status` to `requested` if the state machine's table allows it from the current status.

    False (nothing set) when `requested` is the current status: a no-op, not an error. A move the table does not
    list is `invalid_status_transition` with `http_status` (400 for deals, policies, payments; 409 for v1 tasks).
    The caller checks its own rules of the move (a confirmed client, dates to stamp) after this, under its row lock.
    """
    current = instance.status  # type: ignore[attr-defined]
    if requested == current:
        return False
    allowed = transitions[current]
    if requested not in allowed:
        raise InvalidStatusTransition(current, requested, allowed, status=http_status)
    instance.status = requested  # type: ignore[attr-defined]
    return True
