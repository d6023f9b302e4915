import datetime
from decimal import Decimal

import factory

from crm.tests.factories import TenantFactory, UserFactory
from deals.models import Calculation, Client, Deal, DealTask, JournalEntry, Payment, Policy


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    tenant = factory.SubFactory(TenantFactory)
    type = "company"
    full_name = factory.Sequence(lambda n: f"ООО Ромашка {n}")
    status = "active"
    contacts = factory.LazyFunction(list)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        client = model_class(*args, **kwargs)
        client.refresh_search_text()
        client.save()
        return client


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    tenant = factory.SubFactory(TenantFactory)
    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    title = factory.Sequence(lambda n: f"КАСКО {n}")
    sales_agent = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    folder_id = factory.Sequence(lambda n: f"drive-{n}")


class JournalEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JournalEntry

    deal = factory.SubFactory(DealFactory)
    tenant = factory.SelfAttribute("deal.tenant")
    text = factory.Sequence(lambda n: f"Заметка {n}")


class CalculationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Calculation

    deal = factory.SubFactory(DealFactory)
    tenant = factory.SelfAttribute("deal.tenant")
    insurance_company = "Ингосстрах"
    premium_amount = Decimal("10000.00")
    calculation_date = datetime.date(2025, 1, 10)


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Policy

    deal = factory.SubFactory(DealFactory)
    tenant = factory.SelfAttribute("deal.tenant")
    policy_number = factory.Sequence(lambda n: f"POL-{n:06d}")
    insurer = "Ингосстрах"
    effective_from = datetime.date(2025, 1, 1)
    effective_to = datetime.date(2025, 12, 31)
    premium_amount = Decimal("12345.67")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    policy = factory.SubFactory(PolicyFactory)
    deal = factory.SelfAttribute("policy.deal")
    tenant = factory.SelfAttribute("policy.tenant")
    payment_type = "client_premium"
    amount = Decimal("1000.00")


class DealTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealTask

    tenant = factory.SubFactory(TenantFactory)
    subject = factory.Sequence(lambda n: f"Позвонить клиенту {n}")
    description = "Уточнить данные"
    assignee = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    created_by = factory.SelfAttribute("assignee")
