"""Fixtures shared by the crm tests."""

# The live server (once per session), Chromium and the logged-in pages (once per module) of the browser tests
# (crm/tests/test_browser_*.py), made only when a browser test asks for them.
from crm.tests.browser import browser, demo_page, live, page  # noqa: F401

# The isolation matrix's two-tenant world (one object of every kind per tenant and role), reused by the
# bad-input sweep over the same routed endpoints.
from crm.tests.test_isolation_matrix import world  # noqa: F401
