"""`task_create` / `task_update` called directly, as the admin and the demo data do."""

from datetime import UTC, datetime

import pytest

from crm.errors import Forbidden, ValidationFailed
from crm.tests.factories import UserFactory
from pipelines.models import LeadHistory
from pipelines.services import lead_update
from tasks.models import LeadTask
from tasks.services import task_create, task_update
from tasks.tests.factories import LeadTaskFactory


def test_without_an_acting_user_the_assignee_is_required(lead):
    with pytest.raises(ValidationFailed) as error:
        task_create(lead=lead, acting_user=None, note="Из админки")

    # Called directly, as the admin does: in the back-office's language.
    assert error.value.details == {"assigned_to_user_id": ["У задачи должен быть исполнитель."]}
    assert not LeadTask.objects.exists()


def test_without_an_acting_user_the_author_is_empty(lead, manager, events):
    with events.capture():
        task = task_create(lead=lead, acting_user=None, assigned_to=manager, note=None)

    assert (task.created_by, task.note, task.assigned_to) == (None, "", manager)
    assert LeadHistory.objects.get(kind="task").user is None
    assert len(events.sent) == 1


def test_an_assignee_of_another_tenant_is_refused_by_the_service_too(lead, foreign_owner):
    with pytest.raises(ValidationFailed):
        task_create(lead=lead, acting_user=None, assigned_to=foreign_owner)

    assert not LeadTask.objects.exists()


def test_a_manager_naming_a_colleague_is_forbidden(lead, manager, other_manager):
    with pytest.raises(Forbidden):
        task_create(lead=lead, acting_user=manager, assigned_to=other_manager)


def test_the_event_reaches_the_leads_current_assignee(lead, manager, rop, events):
    with events.capture():
        task_create(lead=lead, acting_user=rop, assigned_to=rop)

    assert [(e.event_type, e.lead_id, e.tenant_id, e.assignee_ids) for e in events.sent] == [
        ("lead_updated", lead.pk, lead.tenant_id, frozenset({manager.pk}))
    ]


def test_a_rolled_back_change_emits_nothing(lead, manager, events):
    task = LeadTaskFactory(lead=lead)

    with events.capture(), pytest.raises(ValidationFailed):
        task_update(task=task, acting_user=manager, note="x" * 10_001)

    assert events.sent == []
    assert not LeadHistory.objects.filter(kind="task").exists()


def test_unknown_fields_are_refused(lead, manager):
    task = LeadTaskFactory(lead=lead)

    with pytest.raises(ValidationFailed) as error:
        task_update(task=task, acting_user=manager, lead=None)

    assert list(error.value.details) == ["lead"]


def test_after_a_lead_is_reassigned_its_old_manager_keeps_the_tasks_assigned_to_them(
    lead, manager, other_manager, owner
):
    task = LeadTaskFactory(lead=lead)
    lead_update(lead=lead, acting_user=owner, assigned_to=other_manager)

    # SPEC §15: a task follows its assignee, not its lead's.
    with pytest.raises(Forbidden):
        task_update(task=task, acting_user=other_manager, status="done")
    task_update(task=task, acting_user=manager, status="done")

    assert list(LeadTask.objects.visible_to(manager)) == [task]
    assert list(LeadTask.objects.visible_to(other_manager)) == []
    task.refresh_from_db()
    assert task.status == "done"


def test_type_and_status_changes_are_described_in_russian(lead, manager):
    task = LeadTaskFactory(lead=lead, due_at=datetime(2025, 1, 29, 11, 0, tzinfo=UTC))

    task_update(task=task, acting_user=manager, type="meeting", status="cancelled", due_at=None)

    assert LeadHistory.objects.get(kind="task").text == (
        f"Задача #{task.pk}: тип: звонок → встреча; статус: открыта → отменена; срок: 29.01.2025 14:00 → —"
    )


def test_a_deactivated_current_assignee_does_not_block_other_changes(lead, tenant, owner):
    former = UserFactory(tenant=tenant)
    task = LeadTaskFactory(lead=lead, assigned_to=former)
    former.is_active = False
    former.save()

    task_update(task=task, acting_user=owner, status="done", assigned_to=former)

    task.refresh_from_db()
    assert task.status == "done"
    assert task.completed_at is not None
