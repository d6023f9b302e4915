"""Fixtures of the pipelines tests: the tenant's default pipeline, leads, and the events a test caused."""

from dataclasses import dataclass

import pytest

from pipelines import services
from pipelines.models import Stage
from pipelines.tests.factories import LeadFactory


@pytest.fixture
def pipeline(tenant):
    """The tenant's default pipeline «Основная» (factories skip tenant_create's hooks)."""
    pipeline, _ = services.default_pipeline_ensure(tenant=tenant)
    return pipeline


@pytest.fixture
def stages(pipeline) -> list[Stage]:
    """Новые, В работе, Переговоры, Успешно, Отказ."""
    return list(pipeline.stages.order_by("order_index"))


@pytest.fixture
def other_pipeline(other_tenant):
    pipeline, _ = services.default_pipeline_ensure(tenant=other_tenant)
    return pipeline


@pytest.fixture
def make_lead(stages):
    """A lead row in the tenant's first stage (no history or events): `make_lead(assigned_to=manager)`."""

    def make(**kwargs):
        kwargs.setdefault("stage", stages[0])
        return LeadFactory(**kwargs)

    return make


@dataclass(frozen=True)
class Emitted:
    event_type: str
    tenant_id: int
    lead_id: int
    assignee_ids: frozenset


@pytest.fixture
def events(monkeypatch, django_capture_on_commit_callbacks):
    """Events delivered after commit: patches only the outside-world boundary `events.services._deliver`.

    Use as `with events.capture(): ...` around the code under test; `events.sent` lists what reached delivery.
    """
    sent: list[Emitted] = []

    def deliver(pks=(), **kwargs):  # pks: the stored rows being published
        sent.append(Emitted(**kwargs))

    monkeypatch.setattr("events.services._deliver", deliver)

    class Recorder:
        def capture(self):
            return django_capture_on_commit_callbacks(execute=True)

    recorder = Recorder()
    recorder.sent = sent
    return recorder
