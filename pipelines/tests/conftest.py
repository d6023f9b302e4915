"""Fixtures of the pipelines tests: the tenant's default pipeline and leads (`events` is the root conftest's)."""

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
