"""Output shapes of the Deals API.

Each serializer shapes an object in `present()`, without DRF's per-field machinery: lists are the hot path and that
machinery costs more than the SQL behind a page. A shape is declared once, as a tuple of `Output` (the key, how the
OpenAPI document types it, how it is read and written out), from which both the serializer's fields and its
`present()` come (`ShapedSerializer`); a key that is no single attribute (a calculation's validity period, a
policy's renewal deal) reads through a function. `deals/tests/test_serializers.py` checks that every `present()`
returns exactly the declared fields.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from operator import attrgetter
from typing import Any, ClassVar, cast

from django.utils import timezone
from rest_framework import serializers

from crm.api.present import iso_datetime
from deals.models import ContactType

VERSION_HELP = 'Also the `ETag` ("<version>"); send it back as `If-Match` or `version` on a PATCH (SPEC §11).'


def _date(value) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value) -> float | None:
    # 12 integer digits + 2 decimals are 14 significant digits: a float prints them back exactly.
    return float(value) if value is not None else None


def _id(value) -> str | None:
    return str(value) if value is not None else None


def _renewal_deal_id(policy) -> str | None:
    # The reverse one-to-one: lists select it with the policy (deals.selectors.with_renewal_deal); a policy loaded
    # alone asks once. No renewal deal raises RelatedObjectDoesNotExist, an AttributeError.
    renewal_deal = getattr(policy, "renewal_deal", None)
    return str(renewal_deal.pk) if renewal_deal is not None else None


@dataclass(frozen=True)
class Output:
    """One key of a shape: how the OpenAPI document types it, what it reads (an attribute, dotted for a related
    object, or a function of the object) and how the value is written out (None: as it is)."""

    name: str
    schema: serializers.Field
    write: Callable[[Any], Any] | None = None
    source: str | Callable[[Any], Any] = ""


class ShapedListSerializer(serializers.ListSerializer):
    """A page of shaped objects, the active timezone looked up once for all of them."""

    def to_representation(self, data) -> list:
        present = cast("ShapedSerializer", self.child).present
        tz = timezone.get_current_timezone()
        return [present(item, tz) for item in data]


class ShapedSerializer(serializers.Serializer):
    # Its fields and `present()` both come from its `shape`. (A comment, not a docstring: the OpenAPI document would
    # show a docstring as every shape's description.)
    shape: ClassVar[tuple[Output, ...]] = ()
    _names: ClassVar[tuple[str, ...]]
    _read: ClassVar[Callable[[Any], tuple]]
    _computed: ClassVar[tuple[tuple[int, Callable[[Any], Any]], ...]]
    _writes: ClassVar[tuple[tuple[int, Callable[[Any], Any]], ...]]
    _timestamps: ClassVar[tuple[int, ...]]

    class Meta:
        list_serializer_class = ShapedListSerializer

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # One C-level attrgetter reads every value, then only the keys that need it are written out: a page of
        # 200 rows costs about what the hand-written dict literals did.
        cls._names = tuple(item.name for item in cls.shape)
        cls._read = attrgetter(*(item.source or item.name for item in cls.shape if not callable(item.source)))
        cls._computed = tuple((index, item.source) for index, item in enumerate(cls.shape) if callable(item.source))
        # Timestamps are written in the active timezone, looked up once per object or page, not once per value.
        cls._timestamps = tuple(index for index, item in enumerate(cls.shape) if item.write is iso_datetime)
        cls._writes = tuple(
            (index, item.write)
            for index, item in enumerate(cls.shape)
            if item.write is not None and item.write is not iso_datetime
        )

    def get_fields(self):
        return {item.name: copy.deepcopy(item.schema) for item in self.shape}

    def to_representation(self, instance) -> dict:
        return self.present(instance)

    @classmethod
    def present(cls, instance, tz: tzinfo | None = None) -> dict:
        """`tz`: the active timezone, when the caller presents a page and has looked it up once."""
        values = list(cls._read(instance))
        for index, compute in cls._computed:  # in key order, so each lands at its index
            values.insert(index, compute(instance))
        for index, write in cls._writes:
            values[index] = write(values[index])
        if cls._timestamps:
            tz = tz or timezone.get_current_timezone()
            for index in cls._timestamps:
                values[index] = iso_datetime(values[index], tz)
        return dict(zip(cls._names, values, strict=True))


class V1ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine code, e.g. `deal_not_found`.")
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True, help_text="For validation_error: field → list of messages.")


class ContactSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ContactType.choices)
    value = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_primary = serializers.BooleanField(required=False)


class ClientSerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("type", serializers.CharField()),
        Output("full_name", serializers.CharField()),
        Output("short_name", serializers.CharField()),
        Output("tax_number", serializers.CharField()),
        Output("registration_number", serializers.CharField()),
        Output("segment", serializers.CharField()),
        Output("status", serializers.CharField()),
        Output("contacts", ContactSerializer(many=True)),
        Output("notes", serializers.CharField()),
        Output("version", serializers.IntegerField(help_text=VERSION_HELP)),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
        Output("updated_at", serializers.DateTimeField(), iso_datetime),
    )


class DealSerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("client_id", serializers.UUIDField(), str),
        Output("client_name", serializers.CharField(help_text="The client's full name."), source="client.full_name"),
        Output("title", serializers.CharField()),
        Output("description", serializers.CharField()),
        Output("status", serializers.CharField()),
        Output("sales_agent_id", serializers.UUIDField(help_text="User uuid."), str),
        Output("executor_id", serializers.UUIDField(allow_null=True, help_text="User uuid."), _id),
        Output("expected_close_date", serializers.DateField(allow_null=True), _date),
        Output("tags", serializers.ListField(child=serializers.CharField())),
        Output("folder_id", serializers.CharField(help_text="The deal's document folder (from the folder provider).")),
        Output(
            "renews_policy_id",
            serializers.UUIDField(allow_null=True, help_text="The policy this deal renews (SPEC §13)."),
            _id,
        ),
        Output(
            "lead_id",
            serializers.IntegerField(allow_null=True, help_text="The `/api` lead it was converted from (SPEC §12)."),
        ),
        Output("version", serializers.IntegerField(help_text=VERSION_HELP)),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
        Output("updated_at", serializers.DateTimeField(), iso_datetime),
    )


class JournalEntrySerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("deal_id", serializers.UUIDField(), str),
        Output(
            "author_id", serializers.UUIDField(allow_null=True, help_text="User uuid of whoever caused the entry."), _id
        ),
        Output("kind", serializers.CharField(help_text="`note` (a user's) or `system` (status and people changes).")),
        Output("text", serializers.CharField()),
        Output("attachments", serializers.ListField(child=serializers.CharField())),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
    )


class ValidityPeriodSerializer(serializers.Serializer):
    """`{"from": "2024-02-01", "to": "2024-03-01"}` (`from` is a Python keyword, hence get_fields)."""

    def get_fields(self):
        return {"from": serializers.DateField(), "to": serializers.DateField()}


def _validity_period(calculation) -> dict | None:
    if calculation.valid_from is None and calculation.valid_to is None:
        return None
    return {"from": _date(calculation.valid_from), "to": _date(calculation.valid_to)}


class CalculationSerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("deal_id", serializers.UUIDField(), str),
        Output("insurance_company", serializers.CharField()),
        Output("program_name", serializers.CharField()),
        Output("premium_amount", serializers.FloatField(allow_null=True), _money),
        Output("coverage_sum", serializers.FloatField(allow_null=True), _money),
        Output("calculation_date", serializers.DateField(), _date),
        Output("validity_period", ValidityPeriodSerializer(allow_null=True), source=_validity_period),
        Output("files", serializers.ListField(child=serializers.CharField())),
        Output("comments", serializers.CharField()),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
        Output("updated_at", serializers.DateTimeField(), iso_datetime),
    )


class PolicySerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("deal_id", serializers.UUIDField(), str),
        Output("calculation_id", serializers.UUIDField(allow_null=True), _id),
        Output("policy_number", serializers.CharField()),
        Output("insurer", serializers.CharField()),
        Output("program_name", serializers.CharField()),
        Output("effective_from", serializers.DateField(), _date),
        Output("effective_to", serializers.DateField(), _date),
        Output("premium_amount", serializers.FloatField(), _money),
        Output("coverage_sum", serializers.FloatField(allow_null=True), _money),
        Output("status", serializers.CharField()),
        Output("documents", serializers.ListField(child=serializers.CharField())),
        Output(
            "renewal_deal_id",
            serializers.UUIDField(allow_null=True, help_text="The deal renewing this policy (SPEC §13)."),
            source=_renewal_deal_id,
        ),
        Output("version", serializers.IntegerField(help_text=VERSION_HELP)),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
        Output("updated_at", serializers.DateTimeField(), iso_datetime),
    )


class PaymentSerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("deal_id", serializers.UUIDField(), str),
        Output("policy_id", serializers.UUIDField(), str),
        Output("payment_type", serializers.CharField()),
        Output("status", serializers.CharField()),
        Output("planned_date", serializers.DateField(allow_null=True), _date),
        Output("amount", serializers.FloatField(), _money),
        Output("currency", serializers.CharField()),
        Output("external_ref", serializers.CharField(allow_null=True, help_text="The record in the Payments service.")),
        Output("notes", serializers.CharField()),
        Output(
            "received_at", serializers.DateField(allow_null=True, help_text="Set by the move to `received`."), _date
        ),
        Output(
            "paid_out_at", serializers.DateField(allow_null=True, help_text="Set by the move to `paid_out`."), _date
        ),
        Output("version", serializers.IntegerField(help_text=VERSION_HELP)),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
        Output("updated_at", serializers.DateTimeField(), iso_datetime),
    )


class DealTaskSerializer(ShapedSerializer):
    shape = (
        Output("id", serializers.UUIDField(), str),
        Output("subject", serializers.CharField()),
        Output("description", serializers.CharField()),
        Output("deal_id", serializers.UUIDField(allow_null=True), _id),
        Output("policy_id", serializers.UUIDField(allow_null=True), _id),
        Output("payment_id", serializers.UUIDField(allow_null=True), _id),
        Output("assignee_id", serializers.UUIDField(help_text="User uuid."), str),
        Output("created_by_id", serializers.UUIDField(help_text="User uuid."), str),
        Output("due_date", serializers.DateField(allow_null=True), _date),
        Output("priority", serializers.CharField()),
        Output("status", serializers.CharField()),
        Output("started_at", serializers.DateTimeField(allow_null=True), iso_datetime),
        Output("completed_at", serializers.DateTimeField(allow_null=True), iso_datetime),
        Output("version", serializers.IntegerField(help_text=VERSION_HELP)),
        Output("created_at", serializers.DateTimeField(), iso_datetime),
        Output("updated_at", serializers.DateTimeField(), iso_datetime),
    )
