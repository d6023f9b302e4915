"""Input serializers of the Deals API: validation and shape only (SPEC §3 sizes; strict JSON types)."""

from rest_framework import serializers

from crm.api.versioning import VersionedInputSerializer
from deals.api.fields import (
    MoneyField,
    OptionalTextField,
    StrictBooleanField,
    StrictCharField,
    StrictDateField,
    StrictUUIDField,
    UUIDRelatedField,
    string_list,
    user_field,
)
from deals.models import (
    CURRENCY_RUB,
    Calculation,
    ClientStatus,
    ClientType,
    ContactType,
    DealStatus,
    DealTaskPriority,
    DealTaskStatus,
    Payment,
    PaymentStatus,
    PaymentType,
    Policy,
    PolicyStatus,
)
from deals.models.clients import MAX_CONTACTS

NAME = 255
LONG_TEXT = 10_000


class ContactInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ContactType.choices)
    value = StrictCharField(max_length=255)
    name = OptionalTextField(max_length=255)
    is_primary = StrictBooleanField(required=False, default=False)


class ClientInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientType.choices)
    full_name = StrictCharField(max_length=NAME)
    short_name = OptionalTextField(max_length=NAME)
    tax_number = OptionalTextField(max_length=32)
    registration_number = OptionalTextField(max_length=32)
    segment = OptionalTextField(max_length=NAME)
    status = serializers.ChoiceField(choices=ClientStatus.choices)
    # many=True hands max_length to the ListSerializer; the stubs type only the child's arguments.
    contacts = ContactInputSerializer(many=True, required=False, max_length=MAX_CONTACTS)  # type: ignore[call-arg]
    notes = OptionalTextField(max_length=LONG_TEXT)

    def validate_contacts(self, contacts):
        primary_types = [contact["type"] for contact in contacts if contact.get("is_primary")]
        if len(primary_types) != len(set(primary_types)):
            raise serializers.ValidationError("At most one primary contact of each type.")
        return [{**contact, "name": contact.get("name", "")} for contact in contacts]


class ClientCreateInputSerializer(ClientInputSerializer):
    pass


class ClientUpdateInputSerializer(VersionedInputSerializer, ClientInputSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class DealCreateInputSerializer(serializers.Serializer):
    client_id = StrictUUIDField()
    title = StrictCharField(max_length=NAME)
    description = OptionalTextField(max_length=LONG_TEXT)
    sales_agent_id = user_field(source="sales_agent")
    executor_id = user_field(source="executor", required=False, allow_null=True)
    expected_close_date = StrictDateField(required=False, allow_null=True)
    tags = string_list(max_length=64)


class DealUpdateInputSerializer(VersionedInputSerializer):
    title = StrictCharField(max_length=NAME, required=False)
    description = OptionalTextField(max_length=LONG_TEXT)
    status = serializers.ChoiceField(choices=DealStatus.choices, required=False)
    sales_agent_id = user_field(source="sales_agent", required=False)
    executor_id = user_field(source="executor", required=False, allow_null=True)
    expected_close_date = StrictDateField(required=False, allow_null=True)
    tags = string_list(max_length=64)


class JournalEntryCreateInputSerializer(serializers.Serializer):
    text = StrictCharField(max_length=LONG_TEXT)
    attachments = string_list()


class ValidityPeriodInputSerializer(serializers.Serializer):
    def get_fields(self):
        return {"from": StrictDateField(), "to": StrictDateField()}

    def validate(self, attrs):
        if attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        return attrs


class CalculationCreateInputSerializer(serializers.Serializer):
    insurance_company = StrictCharField(max_length=NAME)
    program_name = OptionalTextField(max_length=NAME)
    premium_amount = MoneyField(required=False, allow_null=True)
    coverage_sum = MoneyField(required=False, allow_null=True)
    calculation_date = StrictDateField()
    validity_period = ValidityPeriodInputSerializer(required=False, allow_null=True)
    files = string_list()
    comments = OptionalTextField(max_length=LONG_TEXT)

    def validate(self, attrs):
        period = attrs.pop("validity_period", None) or {}
        attrs["valid_from"], attrs["valid_to"] = period.get("from"), period.get("to")
        return attrs


class PolicyCreateInputSerializer(serializers.Serializer):
    calculation_id = UUIDRelatedField(model=Calculation, source="calculation", required=False, allow_null=True)
    policy_number = StrictCharField(max_length=64)
    insurer = StrictCharField(max_length=NAME)
    program_name = OptionalTextField(max_length=NAME)
    effective_from = StrictDateField()
    effective_to = StrictDateField()
    premium_amount = MoneyField()
    coverage_sum = MoneyField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=PolicyStatus.choices)
    documents = string_list()

    def validate(self, attrs):
        if attrs["effective_from"] > attrs["effective_to"]:
            raise serializers.ValidationError({"effective_to": ["Must not be before effective_from."]})
        return attrs


class PolicyUpdateInputSerializer(VersionedInputSerializer):
    status = serializers.ChoiceField(choices=PolicyStatus.choices, required=False)
    effective_to = StrictDateField(required=False)
    documents = string_list()
    premium_amount = MoneyField(required=False)
    coverage_sum = MoneyField(required=False, allow_null=True)


class PaymentCreateInputSerializer(serializers.Serializer):
    deal_id = StrictUUIDField()
    policy_id = StrictUUIDField()
    payment_type = serializers.ChoiceField(choices=PaymentType.choices)
    planned_date = StrictDateField(required=False, allow_null=True)
    amount = MoneyField(min_value=None)
    currency = serializers.ChoiceField(choices=[(CURRENCY_RUB, CURRENCY_RUB)], help_text="Always `RUB`.")
    notes = OptionalTextField(max_length=LONG_TEXT)
    received_at = StrictDateField(required=False, allow_null=True)
    paid_out_at = StrictDateField(required=False, allow_null=True)

    def validate_amount(self, amount):
        if amount <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return amount

    def validate(self, attrs):
        attrs.pop("currency")
        return attrs


class PaymentUpdateInputSerializer(VersionedInputSerializer):
    status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    external_ref = StrictCharField(max_length=NAME, required=False, allow_null=True)
    planned_date = StrictDateField(required=False, allow_null=True)
    notes = OptionalTextField(max_length=LONG_TEXT)
    received_at = StrictDateField(
        required=False, allow_null=True, help_text="Today (tenant's timezone) on the move to `received` if omitted."
    )
    paid_out_at = StrictDateField(
        required=False, allow_null=True, help_text="Today (tenant's timezone) on the move to `paid_out` if omitted."
    )


class DealTaskCreateInputSerializer(serializers.Serializer):
    subject = StrictCharField(max_length=NAME)
    description = StrictCharField(max_length=LONG_TEXT)
    deal_id = StrictUUIDField(required=False, allow_null=True)
    policy_id = UUIDRelatedField(model=Policy, source="policy", required=False, allow_null=True)
    payment_id = UUIDRelatedField(model=Payment, source="payment", required=False, allow_null=True)
    assignee_id = user_field(source="assignee")
    due_date = StrictDateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=DealTaskPriority.choices, required=False)


class DealTaskUpdateInputSerializer(VersionedInputSerializer):
    subject = StrictCharField(max_length=NAME, required=False)
    description = StrictCharField(max_length=LONG_TEXT, required=False)
    status = serializers.ChoiceField(choices=DealTaskStatus.choices, required=False)
    assignee_id = user_field(source="assignee", required=False)
    due_date = StrictDateField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=DealTaskPriority.choices, required=False)
