"""Fixtures of the tasks tests: leads of each kind of owner and tasks (`events` is the root conftest's)."""

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
