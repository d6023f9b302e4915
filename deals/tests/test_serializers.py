"""The `present()` of each output shape returns exactly the fields it declares for OpenAPI, in their order."""

import pytest

from deals.api import serializers
from deals.tests.factories import (
    CalculationFactory,
    DealFactory,
    DealTaskFactory,
    JournalEntryFactory,
    PaymentFactory,
    PolicyFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("serializer_class", "factory"),
    [
        (serializers.ClientSerializer, lambda deal: deal.client),
        (serializers.DealSerializer, lambda deal: deal),
        (serializers.JournalEntrySerializer, lambda deal: JournalEntryFactory(deal=deal)),
        (serializers.CalculationSerializer, lambda deal: CalculationFactory(deal=deal)),
        (serializers.PolicySerializer, lambda deal: PolicyFactory(deal=deal)),
        (serializers.PaymentSerializer, lambda deal: PaymentFactory(policy=PolicyFactory(deal=deal))),
        (serializers.DealTaskSerializer, lambda deal: DealTaskFactory(tenant=deal.tenant, deal=deal)),
    ],
)
def test_present_matches_the_declared_fields(tenant, serializer_class, factory):
    obj = factory(DealFactory(tenant=tenant))

    assert list(serializer_class(obj).data) == list(serializer_class().fields)
