"""Fixtures shared by the crm tests."""

# The isolation matrix's two-tenant world (one object of every kind per tenant and role), reused by the
# bad-input sweep over the same routed endpoints.
from crm.tests.test_isolation_matrix import world  # noqa: F401
