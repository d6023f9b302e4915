from django.db.models import Count

from crm.demo import demo_data_load
from pipelines.models import Lead, LeadHistory


def test_demo_data_fills_leads_across_stages_and_sources(db):
    demo, created = demo_data_load()

    assert created
    leads = Lead.objects.filter(tenant=demo.tenant)
    assert leads.count() == 36
    assert set(leads.values_list("source", flat=True)) == {"whatsapp", "chatflow", "site", "manual"}
    assert leads.values("stage").annotate(n=Count("id")).count() >= 4
    assert leads.filter(assigned_to__isnull=False).exists()
    assert LeadHistory.objects.filter(lead__tenant=demo.tenant, kind="stage_changed").exists()
    assert leads.filter(source="whatsapp").exclude(source_payload=None).count() == 9
