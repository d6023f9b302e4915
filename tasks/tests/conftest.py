"""Fixtures of the tasks tests: leads of each kind of owner, tasks, and the events a test caused."""

from dataclasses import dataclass

import pytest

from tasks.tests.factories import make_lead


@pytest.fixture
def lead(tenant, manager):
    """A lead of the tenant assigned to `manager`."""
    return make_lead(tenant=tenant, assigned_to=manager)


@pytest.fixture
def colleague_lead(tenant, other_manager):
    """A lead of the tenant assigned to another manager."""
    return make_lead(tenant=tenant, assigned_to=other_manager, name="Пётр Сидоров")


@pytest.fixture
def foreign_lead(other_tenant, foreign_owner):
    return make_lead(tenant=other_tenant, assigned_to=foreign_owner, name="Чужой лид")


@dataclass(frozen=True)
class Emitted:
    event_type: str
    tenant_id: int
    lead_id: int
    assignee_ids: frozenset


@pytest.fixture
def events(monkeypatch, django_capture_on_commit_callbacks):
    """Events that reached delivery after commit; only the outside-world boundary `_deliver` is patched.

    `with events.capture(): ...` around the code under test; then `events.sent`.
    """
    sent: list[Emitted] = []
    monkeypatch.setattr("events.services._deliver", lambda pks=(), **kwargs: sent.append(Emitted(**kwargs)))

    class Recorder:
        def capture(self):
            return django_capture_on_commit_callbacks(execute=True)

    recorder = Recorder()
    recorder.sent = sent
    return recorder
