"""Related-id fields that resolve only inside the caller's tenant (a foreign id is just "does not exist")."""

import uuid

from rest_framework import serializers

from crm.bounds import MAX_BIGINT
from crm.tenancy import scoped


class TenantRelatedField(serializers.RelatedField):
    """A related object named by `to_field` (`pk` for /api, `uuid` for /api/v1), looked up in the tenant.

    `limit` narrows further (e.g. active users, stages of a pipeline); an unknown, foreign or malformed id
    becomes a 400 naming the field.
    """

    default_error_messages = {
        "does_not_exist": "No {model} with id {value} in your tenant.",
        "invalid": "Invalid id: {value}.",
    }

    def __init__(self, *, model, to_field: str = "pk", limit=None, **kwargs):
        self.model = model
        self.to_field = to_field
        self.limit = limit
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", model._default_manager.none())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context["request"]
        queryset = scoped(self.model._default_manager.all(), request.user.tenant_id)
        return self.limit(queryset) if self.limit else queryset

    def _coerce(self, data):
        if self.to_field == "uuid":
            return uuid.UUID(str(data))
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise ValueError
        value = int(data)
        if not 0 < value <= MAX_BIGINT:
            raise ValueError
        return value

    def to_internal_value(self, data):
        try:
            value = self._coerce(data)
        except (TypeError, ValueError):
            self.fail("invalid", value=str(data)[:64])
        obj = self.get_queryset().filter(**{self.to_field: value}).first()
        if obj is None:
            self.fail("does_not_exist", model=self.model._meta.verbose_name, value=value)
        return obj

    def to_representation(self, value):
        result = getattr(value, self.to_field if self.to_field != "pk" else "pk")
        return str(result) if self.to_field == "uuid" else result
