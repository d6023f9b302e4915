"""Helpers every deals service uses: field validation, constraint-to-409 mapping, the state-machine check."""

from django.db import IntegrityError, models, transaction

from crm.errors import ApplicationError, InvalidStatusTransition
from crm.versions import save_bumped
from deals.errors import ClientNotConfirmed
from deals.models import Client, ClientStatus
from deals.models.base import Transitions


def clean_fields(instance: models.Model) -> None:
    """Field rules (lengths, choices, decimals) in Python; FK existence and constraints are left to the database."""
    relations = [field.name for field in instance._meta.concrete_fields if field.is_relation]
    instance.clean_fields(exclude=relations)


def assign_changes(instance: models.Model, editable: frozenset[str], changes: dict) -> list[str]:
    """Set the editable fields whose value differs; returns their names, for `save(update_fields=…)`."""
    changed = [name for name in editable & changes.keys() if getattr(instance, name) != changes[name]]
    for name in changed:
        setattr(instance, name, changes[name])
    return changed


def violated_constraint(exc: IntegrityError, model: type[models.Model]) -> str | None:
    """The name of the constraint an IntegrityError reports (PostgreSQL names it; SQLite lists the columns)."""
    diag = getattr(exc.__cause__, "diag", None)
    if diag is not None:
        return diag.constraint_name
    message = str(exc)
    for constraint in model._meta.constraints:
        if constraint.name in message:
            return constraint.name
        columns = [model._meta.get_field(name).column for name in getattr(constraint, "fields", ())]
        if columns and message.endswith(", ".join(f"{model._meta.db_table}.{column}" for column in columns)):
            return constraint.name
    return None


def save_or_conflict(
    instance: models.Model, conflicts: dict[str, ApplicationError], *, bump: bool = False, **save_kwargs
) -> None:
    """Save in a savepoint; a unique-constraint violation becomes its 409, so concurrent duplicates get one 201.

    `bump=True` saves a change of a locked row with `version + 1` (crm.versions.save_bumped).
    """
    try:
        with transaction.atomic():
            if bump:
                save_bumped(instance, **save_kwargs)
            else:
                instance.save(**save_kwargs)
    except IntegrityError as exc:
        error = conflicts.get(violated_constraint(exc, type(instance)))
        if error is None:
            raise
        raise error from exc


def transition_allowed(table: Transitions, current: str, requested: str, *, http_status: int = 400) -> bool:
    """True when the move is in the table, False for a no-op (same status); otherwise invalid_status_transition."""
    if requested == current:
        return False
    allowed = table[current]
    if requested not in allowed:
        raise InvalidStatusTransition(current, requested, allowed, status=http_status)
    return True


def require_active_client(client: Client) -> None:
    """A deal issues or becomes active, a policy becomes active, only for a confirmed (`active`) client: else 412.

    The client's row is locked and its status read afresh, so a concurrent change of the client (to `potential` or
    `inactive`) either lands before this check or waits until the move is committed.
    """
    status = Client.objects.for_tenant(client.tenant_id).select_for_update().values_list("status", flat=True)
    client.status = status.get(pk=client.pk)
    if client.status != ClientStatus.ACTIVE:
        raise ClientNotConfirmed(client)
