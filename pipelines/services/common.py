"""Helpers shared by the pipelines services."""

from django.core.exceptions import ValidationError as DjangoValidationError

from crm.errors import ValidationFailed


def full_clean(instance, exclude=None) -> None:
    """Model validation as a 400 `validation_error` (constraints are left to the database)."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise ValidationFailed(next(iter(exc.message_dict.values()))[0], details=exc.message_dict) from exc


def reject_unknown(fields: dict, allowed: tuple[str, ...]) -> None:
    """A field a service does not change is a 400 naming it."""
    for name in fields:
        if name not in allowed:
            raise ValidationFailed.for_field(name, "This field cannot be changed.")
