"""Round-robin distribution of webhook leads (SPEC §12): in turn, history `assigned`, the assignee's stream hears it."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from conftest import client_for
from crm.models import Tenant
from crm.tests.factories import UserFactory
from events.tests.recording import Emitted
from pipelines.models import HistoryKind, Lead, LeadHistory


def _site(tenant) -> str:
    return reverse("webhook-site", args=[tenant.webhook_key])


def _post_site(client, tenant, n: int):
    return client.post(_site(tenant), {"name": f"Клиент {n}", "phone": f"+7916555{n:04d}"}, format="json")


def _distribute(tenant, users=()):
    tenant.lead_distribution = "round_robin"
    tenant.distribution_user_ids = [user.pk for user in users]
    tenant.save()


def _assignees(tenant) -> list[int | None]:
    return list(Lead.objects.filter(tenant=tenant).order_by("id").values_list("assigned_to_id", flat=True))


def test_webhook_leads_go_to_the_listed_users_in_turn(api_client, tenant, pipeline, manager, other_manager, owner):
    _distribute(tenant, [other_manager, owner, manager])
    client = api_client(None)
    for n in range(7):
        assert _post_site(client, tenant, n).status_code == 201
    expected = [other_manager.pk, owner.pk, manager.pk] * 2 + [other_manager.pk]
    assert _assignees(tenant) == expected


def test_an_empty_list_means_every_active_manager_by_id(api_client, tenant, pipeline, owner, manager, other_manager):
    UserFactory(tenant=tenant, role="manager", username="gone", is_active=False)
    _distribute(tenant)
    client = api_client(None)
    for n in range(4):
        _post_site(client, tenant, n)
    first, second = sorted([manager.pk, other_manager.pk])
    assert _assignees(tenant) == [first, second, first, second]


def test_a_user_who_became_inactive_is_skipped_and_the_turn_goes_on(
    api_client, tenant, pipeline, owner, manager, other_manager
):
    third = UserFactory(tenant=tenant, role="manager", username="third")
    _distribute(tenant, [manager, other_manager, third])
    client = api_client(None)
    _post_site(client, tenant, 1)  # manager
    other_manager.is_active = False
    other_manager.save()
    for n in range(2, 5):
        _post_site(client, tenant, n)
    assert _assignees(tenant) == [manager.pk, third.pk, manager.pk, third.pk]


def test_the_turn_after_a_manager_who_left_goes_to_the_next_by_id(api_client, tenant, pipeline, manager, other_manager):
    third = UserFactory(tenant=tenant, role="manager", username="third")
    _distribute(tenant)
    client = api_client(None)
    _post_site(client, tenant, 1)
    _post_site(client, tenant, 2)  # manager, other_manager: other_manager holds the turn
    other_manager.is_active = False
    other_manager.save()
    _post_site(client, tenant, 3)
    assert _assignees(tenant) == [manager.pk, other_manager.pk, third.pk]


def test_nobody_to_give_it_to_leaves_the_lead_unassigned(api_client, tenant, pipeline, owner):
    _distribute(tenant)  # no manager at all
    assert _post_site(api_client(None), tenant, 1).status_code == 201
    assert _assignees(tenant) == [None]
    assert Tenant.objects.get(pk=tenant.pk).distribution_cursor_user_id is None


def test_without_distribution_webhook_leads_stay_unassigned(api_client, tenant, pipeline, manager):
    tenant.distribution_user_ids = [manager.pk]
    tenant.save()  # a list but lead_distribution "none"
    _post_site(api_client(None), tenant, 1)
    assert _assignees(tenant) == [None]


def test_history_records_assigned_and_the_assignee_hears_lead_created(
    api_client, tenant, pipeline, manager, events, django_assert_max_num_queries
):
    _distribute(tenant, [manager])
    with events.capture():
        response = _post_site(api_client(None), tenant, 1)
    lead_id = response.json()["lead_id"]
    kinds = list(LeadHistory.objects.filter(lead_id=lead_id).order_by("id").values_list("kind", "text"))
    assert [kind for kind, _ in kinds] == [HistoryKind.CREATED, HistoryKind.ASSIGNED]
    assert manager.display_name in kinds[1][1]
    assert events.sent == [Emitted("lead_created", tenant.pk, lead_id, frozenset({manager.pk}))]
    body = client_for(manager).get(f"/api/leads/{lead_id}").json()
    assert body["assigned_to_user_id"] == manager.pk


def test_a_message_for_an_open_lead_is_not_distributed(api_client, tenant, pipeline, manager, other_manager):
    _distribute(tenant, [manager, other_manager])
    client = api_client(None)
    _post_site(client, tenant, 1)
    response = _post_site(client, tenant, 1)  # the same phone: a message for its open lead
    assert response.status_code == 200
    _post_site(client, tenant, 2)
    assert _assignees(tenant) == [manager.pk, other_manager.pk]


def test_every_webhook_source_is_distributed(api_client, tenant, pipeline, manager, other_manager):
    _distribute(tenant, [manager, other_manager])
    client = api_client(None)
    _post_site(client, tenant, 1)
    chatflow = {"chat_id": "c-1", "contact": {"name": "Бот", "phone": "+79165550099"}, "message": "Привет"}
    assert (
        client.post(reverse("webhook-chatflow", args=[tenant.webhook_key]), chatflow, format="json").status_code == 201
    )
    assert _assignees(tenant) == [manager.pk, other_manager.pk]


def test_leads_created_through_the_api_are_not_distributed(owner_client, tenant, pipeline, manager):
    _distribute(tenant, [manager])
    response = owner_client.post("/api/leads", {"name": "Вручную", "phone": "+79160000001"}, format="json")
    assert response.status_code == 201
    assert response.json()["assigned_to_user_id"] is None
    assert Tenant.objects.get(pk=tenant.pk).distribution_cursor_user_id is None


# ---------------------------------------------------------------- concurrent deliveries


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: SQLite serialises writers anyway")
def test_parallel_deliveries_take_turns(tenant, pipeline, manager, other_manager):
    """N deliveries released together, each a real request in its own transaction: spread evenly, and in lead order
    (the order their transactions took the turn) nobody gets two in a row while another waits."""
    third = UserFactory(tenant=tenant, role="manager", username="third")
    users = [manager, other_manager, third]
    _distribute(tenant, users)
    parallel = 12
    barrier = threading.Barrier(parallel)
    statuses: list[int] = []

    def deliver(n: int) -> None:
        try:
            client = client_for(None)
            barrier.wait(timeout=30)
            statuses.append(_post_site(client, tenant, n).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == [201] * parallel
    assignees = _assignees(tenant)
    assert sorted(assignees) == sorted([user.pk for user in users] * (parallel // len(users)))
    turn = [user.pk for user in users]
    assert assignees == turn * (parallel // len(users))
    assert LeadHistory.objects.filter(lead__tenant=tenant, kind=HistoryKind.ASSIGNED).count() == parallel
