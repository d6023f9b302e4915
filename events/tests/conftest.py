"""Fixtures of the events tests: emitting like a domain service does, tokens, clients."""

from datetime import timedelta

import pytest
from django.db import transaction

from crm.tokens import CrmAccessToken, issue_token_pair
from events.services import lead_event_emit


def emit(event_type: str, tenant_id: int, lead_id: int, assignee_ids=()) -> None:
    """What a domain service does: one `lead_event_emit` inside its transaction."""
    with transaction.atomic():
        lead_event_emit(event_type=event_type, tenant_id=tenant_id, lead_id=lead_id, assignee_ids=assignee_ids)


def token_for(user, *, lifetime: timedelta | None = None) -> str:
    if lifetime is None:
        return issue_token_pair(user)["access"]
    token = CrmAccessToken.for_user(user)
    token["tenant_id"] = user.tenant_id
    token["role"] = user.role
    token.set_exp(lifetime=lifetime)
    return str(token)


@pytest.fixture
def lead_event():
    return emit
