"""The lead search on PostgreSQL reads the tenant's own entries of the search index (migration 0010) and finds
exactly what the substring rule finds (SPEC §5 `search`: name, email or phone containing the term)."""

import pytest
from django.db import connection

from pipelines.filtersets import search_q
from pipelines.models import Lead
from pipelines.tests.factories import LeadFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the search index is PostgreSQL's"),
]


def _plan(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: make the planner show what it can use
    return queryset.explain()


@pytest.mark.parametrize("term", ["Анна", "8 916 123-45-67", "+7916"])
def test_every_form_of_a_search_is_answered_by_the_search_index(tenant, term):
    """The condition is spelled as the index is (else PostgreSQL reads every lead of the tenant): with the search
    alone, nothing but the search index can answer it without a sequential scan."""
    plan = _plan(Lead.objects.unscoped().filter(search_q(term, tenant_id=tenant.pk)).order_by())

    assert "pipelines_lead_search" in plan
    assert "Seq Scan" not in plan


def _found(client, term) -> set[str]:
    response = client.get("/api/leads", {"search": term, "limit": 100})
    assert response.status_code == 200, response.content
    return {lead["name"] for lead in response.json()["leads"]}


def test_the_search_finds_what_contains_the_term_and_nothing_else(owner_client, make_lead):
    make_lead(name="Анна Каренина", email="anna@example.com", phone="+79161234567")
    make_lead(name="Скидка 100% на всё", phone="+79035550011")
    make_lead(name="a_b", phone="+79035550012")
    make_lead(name="axb", phone="+79035550013")
    make_lead(name="Абвг Бвгд", phone="+79035550014")

    assert _found(owner_client, "на Ка") == {"Анна Каренина"}  # across the space between words
    assert _found(owner_client, "АННА") == {"Анна Каренина"}
    assert _found(owner_client, "Ан") == {"Анна Каренина"}  # two characters: no piece to look up, LIKE alone
    assert _found(owner_client, "PLE.C") == {"Анна Каренина"}  # in the email
    assert _found(owner_client, "0% н") == {"Скидка 100% на всё"}  # % and _ are characters, not wildcards
    assert _found(owner_client, "a_b") == {"a_b"}
    assert _found(owner_client, "8 916 123 45 67") == {"Анна Каренина"}  # the national form of the stored +7
    assert _found(owner_client, "Каренина Анна") == set()
    assert _found(owner_client, "Абвгд") == set()  # АБВ, БВГ and ВГД are all in «Абвг Бвгд»; the term is not


def test_the_index_narrows_to_the_tenant_given_and_never_widens(tenant, other_tenant, other_pipeline, make_lead):
    mine = make_lead(name="Общее имя")
    theirs = LeadFactory(name="Общее имя", stage=other_pipeline.stages.first())
    everyone = Lead.objects.unscoped()

    assert set(everyone.filter(search_q("Общее", tenant_id=tenant.pk))) == {mine}
    assert set(everyone.filter(search_q("Общее", tenant_id=other_tenant.pk))) == {theirs}
    # Without a tenant (a platform superuser's search) the same rule runs without the index.
    assert set(everyone.filter(search_q("Общее", tenant_id=None))) == {mine, theirs}
