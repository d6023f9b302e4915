"""Strict input fields of the Deals API: wrong JSON types are 400s, never silently converted."""

import uuid

from rest_framework import serializers

from crm.api.fields import TenantRelatedField
from crm.models import User
from deals.models import MONEY


class UUIDRelatedField(TenantRelatedField):
    """A tenant-scoped related object named by its UUID primary key."""

    def _coerce(self, data):
        if not isinstance(data, str):
            raise ValueError
        return uuid.UUID(data)


def user_field(**kwargs) -> TenantRelatedField:
    """A user of the caller's tenant by `User.uuid`; deactivated users cannot be named."""
    return TenantRelatedField(model=User, to_field="uuid", limit=lambda qs: qs.filter(is_active=True), **kwargs)


class StrictCharField(serializers.CharField):
    """Only JSON strings (DRF would turn 123 into "123")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class OptionalTextField(StrictCharField):
    """An optional text: absent, null and "" all mean empty (stored as "")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return True, ""
        return super().validate_empty_values(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class MoneyField(serializers.DecimalField):
    """A JSON number with at most 2 decimals and 12 integer digits, returned as a number."""

    default_error_messages = {"not_a_number": "A JSON number is required."}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        super().__init__(**MONEY, coerce_to_string=False, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("not_a_number")
        return super().to_internal_value(data)


class StrictDateField(serializers.DateField):
    """An ISO date string (YYYY-MM-DD)."""

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


def string_list(*, max_items: int = 50, max_length: int = 2048, **kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=max_length), max_length=max_items, required=False, **kwargs
    )


class StrictUUIDField(serializers.UUIDField):
    """Only a UUID string (DRF would turn the number 5 into a UUID)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
