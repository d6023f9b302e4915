"""Every (from, to) pair of the four state machines, through the API: allowed, no-op, or invalid (nothing changes)."""

import itertools

import pytest

from deals.models import (
    DEAL_TASK_TRANSITIONS,
    DEAL_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    POLICY_TRANSITIONS,
    Deal,
    DealTask,
    Payment,
    Policy,
)
from deals.tests.conftest import assert_error
from deals.tests.factories import DealTaskFactory

pytestmark = pytest.mark.django_db


def pairs(table):
    return list(itertools.product(table, table))


def check_transition(client, url, obj, table, current, requested, *, error_status):
    response = client.patch(url, {"status": requested}, format="json")
    obj.refresh_from_db()
    if requested == current or requested in table[current]:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == requested
        assert obj.status == requested
    else:
        body = assert_error(response, error_status, "invalid_status_transition")
        assert body["details"]["status"]
        assert obj.status == current


@pytest.mark.parametrize(("current", "requested"), pairs(DEAL_TRANSITIONS))
def test_deal(manager_client, deal, current, requested):
    Deal.objects.filter(pk=deal.pk).update(status=current)

    check_transition(
        manager_client, f"/api/v1/deals/{deal.id}", deal, DEAL_TRANSITIONS, current, requested, error_status=400
    )
    expected_entries = 1 if requested in DEAL_TRANSITIONS[current] else 0
    assert deal.journal.filter(kind="system").count() == expected_entries
    if expected_entries:
        assert deal.journal.get().text == f"Статус: {current} → {requested}"


@pytest.mark.parametrize(("current", "requested"), pairs(POLICY_TRANSITIONS))
def test_policy(manager_client, policy, current, requested):
    Policy.objects.filter(pk=policy.pk).update(status=current)

    check_transition(
        manager_client,
        f"/api/v1/policies/{policy.id}",
        policy,
        POLICY_TRANSITIONS,
        current,
        requested,
        error_status=400,
    )


@pytest.mark.parametrize(("current", "requested"), pairs(PAYMENT_TRANSITIONS))
def test_payment(manager_client, payment, current, requested):
    Payment.objects.filter(pk=payment.pk).update(status=current)

    check_transition(
        manager_client,
        f"/api/v1/payments/{payment.id}",
        payment,
        PAYMENT_TRANSITIONS,
        current,
        requested,
        error_status=400,
    )


@pytest.mark.parametrize(("current", "requested"), pairs(DEAL_TASK_TRANSITIONS))
def test_task(manager_client, tenant, manager, current, requested):
    task = DealTaskFactory(tenant=tenant, assignee=manager, status=current)

    check_transition(
        manager_client, f"/api/v1/tasks/{task.id}", task, DEAL_TASK_TRANSITIONS, current, requested, error_status=409
    )
    changed = requested != current and requested in DEAL_TASK_TRANSITIONS[current]
    assert (task.started_at is not None) == (changed and requested == "in_progress")
    assert (task.completed_at is not None) == (changed and requested in ("done", "cancelled"))


def test_tables_cover_every_status():
    from deals.models import DealStatus, DealTaskStatus, PaymentStatus, PolicyStatus

    for table, choices in (
        (DEAL_TRANSITIONS, DealStatus),
        (POLICY_TRANSITIONS, PolicyStatus),
        (PAYMENT_TRANSITIONS, PaymentStatus),
        (DEAL_TASK_TRANSITIONS, DealTaskStatus),
    ):
        assert set(table) == set(choices.values)
        assert set().union(*table.values()) <= set(choices.values)


def test_task_no_op_keeps_dates(manager_client, tenant, manager):
    task = DealTaskFactory(tenant=tenant, assignee=manager, status="new")
    manager_client.patch(f"/api/v1/tasks/{task.id}", {"status": "in_progress"}, format="json")
    task.refresh_from_db()
    started_at, updated_at = task.started_at, task.updated_at

    manager_client.patch(f"/api/v1/tasks/{task.id}", {"status": "in_progress"}, format="json")

    task.refresh_from_db()
    assert (task.started_at, task.updated_at) == (started_at, updated_at)
    assert DealTask.objects.count() == 1
