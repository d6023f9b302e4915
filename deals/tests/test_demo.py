import pytest

from crm.demo import demo_data_load
from deals.models import Calculation, Client, Deal, DealStatus, DealTask, JournalEntry, Payment, Policy

pytestmark = pytest.mark.django_db


def test_demo_data_has_deals_in_every_status_and_a_renewal_due_policy():
    demo, created = demo_data_load()

    assert created
    deals = Deal.objects.filter(tenant=demo.tenant)
    assert set(deals.values_list("status", flat=True)) == set(DealStatus.values)
    assert Client.objects.filter(tenant=demo.tenant).count() == 5
    assert Calculation.objects.filter(tenant=demo.tenant).exists()
    assert Policy.objects.filter(tenant=demo.tenant, status="renewal_due").count() == 1
    assert Payment.objects.filter(tenant=demo.tenant, status="received").exists()
    # A task per deal, the owner's review, and the renewal job's task for the policy ending within the notice days.
    assert DealTask.objects.filter(tenant=demo.tenant).count() == deals.count() + 2
    renewal_task = DealTask.objects.get(tenant=demo.tenant, subject="Продление полиса DEMO-0001")
    assert (renewal_task.priority, renewal_task.policy.status) == ("high", "renewal_due")
    assert Policy.objects.get(tenant=demo.tenant, policy_number="DEMO-0002").status == "active"
    assert JournalEntry.objects.filter(tenant=demo.tenant, kind="system", text="Статус: issuing → active").exists()
