"""Every (from, to) pair of the four state machines, through the API: allowed, no-op, or invalid (nothing changes).

The expected answers are SPEC §9 written out literally here, never read from the tables under test
(`DEAL_TRANSITIONS` and the others): adding or removing one edge in any table makes a test below fail.
"""

import itertools

import pytest

from deals.models import (
    DEAL_TASK_TRANSITIONS,
    DEAL_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    POLICY_TRANSITIONS,
    Deal,
    DealStatus,
    DealTask,
    DealTaskStatus,
    Payment,
    PaymentStatus,
    Policy,
    PolicyStatus,
)
from deals.tests.conftest import assert_error
from deals.tests.factories import DealTaskFactory

pytestmark = pytest.mark.django_db

# SPEC §9, word for word: status → the statuses it may move to (anything else is invalid_status_transition).
SPEC_DEAL = {
    "draft": {"estimating", "closed"},
    "estimating": {"awaiting_client", "draft", "closed"},
    "awaiting_client": {"issuing", "estimating", "closed"},
    "issuing": {"active", "awaiting_client", "closed"},
    "active": {"closed"},
    "closed": set(),
}
SPEC_POLICY = {
    "draft": {"active", "closed"},
    "active": {"renewal_due", "closed"},
    "renewal_due": {"active", "closed"},
    "closed": set(),
}
SPEC_PAYMENT = {
    "planned": {"expected", "received", "cancelled"},
    "expected": {"received", "cancelled"},
    "received": {"paid_out"},
    "paid_out": set(),
    "cancelled": set(),
}
SPEC_TASK = {
    "new": {"in_progress", "waiting", "done", "cancelled"},
    "in_progress": {"waiting", "done", "cancelled"},
    "waiting": {"in_progress", "done", "cancelled"},
    "done": set(),
    "cancelled": set(),
}


def pairs(spec: dict) -> list[tuple[str, str]]:
    return list(itertools.product(spec, spec))


@pytest.mark.parametrize(
    ("table", "spec", "choices"),
    [
        (DEAL_TRANSITIONS, SPEC_DEAL, DealStatus),
        (POLICY_TRANSITIONS, SPEC_POLICY, PolicyStatus),
        (PAYMENT_TRANSITIONS, SPEC_PAYMENT, PaymentStatus),
        (DEAL_TASK_TRANSITIONS, SPEC_TASK, DealTaskStatus),
    ],
    ids=["deal", "policy", "payment", "task"],
)
def test_each_table_is_the_spec_edge_for_edge(table, spec, choices):
    assert set(choices.values) == set(spec)
    assert {str(current): {str(target) for target in allowed} for current, allowed in table.items()} == spec


def check_transition(client, url, obj, spec, current, requested, *, error_status):
    response = client.patch(url, {"status": requested}, format="json")
    obj.refresh_from_db()
    if requested == current or requested in spec[current]:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == requested
        assert obj.status == requested
        assert obj.version == (1 if requested == current else 2)
    else:
        body = assert_error(response, error_status, "invalid_status_transition")
        assert body["details"]["status"]
        assert (obj.status, obj.version) == (current, 1)


@pytest.mark.parametrize(("current", "requested"), pairs(SPEC_DEAL))
def test_deal(manager_client, deal, current, requested):
    # The deal's client is active, so the confirmed-client precondition (SPEC §11) never stands in the way here.
    Deal.objects.filter(pk=deal.pk).update(status=current)

    check_transition(manager_client, f"/api/v1/deals/{deal.id}", deal, SPEC_DEAL, current, requested, error_status=400)
    moved = requested in SPEC_DEAL[current]
    assert list(deal.journal.filter(kind="system").values_list("text", flat=True)) == (
        [f"Статус: {current} → {requested}"] if moved else []
    )


@pytest.mark.parametrize(("current", "requested"), pairs(SPEC_POLICY))
def test_policy(manager_client, policy, current, requested):
    Policy.objects.filter(pk=policy.pk).update(status=current)

    check_transition(
        manager_client, f"/api/v1/policies/{policy.id}", policy, SPEC_POLICY, current, requested, error_status=400
    )


@pytest.mark.parametrize(("current", "requested"), pairs(SPEC_PAYMENT))
def test_payment(manager_client, payment, current, requested):
    Payment.objects.filter(pk=payment.pk).update(status=current)

    check_transition(
        manager_client, f"/api/v1/payments/{payment.id}", payment, SPEC_PAYMENT, current, requested, error_status=400
    )


@pytest.mark.parametrize(("current", "requested"), pairs(SPEC_TASK))
def test_task(manager_client, tenant, manager, current, requested):
    task = DealTaskFactory(tenant=tenant, assignee=manager, status=current)

    check_transition(manager_client, f"/api/v1/tasks/{task.id}", task, SPEC_TASK, current, requested, error_status=409)
    changed = requested != current and requested in SPEC_TASK[current]
    assert (task.started_at is not None) == (changed and requested == "in_progress")
    assert (task.completed_at is not None) == (changed and requested in ("done", "cancelled"))


def test_task_no_op_keeps_dates(manager_client, tenant, manager):
    task = DealTaskFactory(tenant=tenant, assignee=manager, status="new")
    manager_client.patch(f"/api/v1/tasks/{task.id}", {"status": "in_progress"}, format="json")
    task.refresh_from_db()
    started_at, updated_at = task.started_at, task.updated_at

    manager_client.patch(f"/api/v1/tasks/{task.id}", {"status": "in_progress"}, format="json")

    task.refresh_from_db()
    assert (task.started_at, task.updated_at, task.version) == (started_at, updated_at, 2)
    assert DealTask.objects.count() == 1
