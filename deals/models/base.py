"""Shared pieces of the deals models: the UUID base and the state-machine tables' helpers."""

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.tenancy import TenantModel

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}

Transitions = Mapping[str, frozenset[str]]


class UUIDTenantModel(TenantModel):
    """A tenant-owned row with a UUID primary key and creation/update times (every /api/v1 object)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("создано"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("изменено"))

    class Meta:
        abstract = True


def transitions_markdown(table: Transitions) -> str:
    """The transition table as Markdown, for the OpenAPI descriptions (the docs show the code's own table)."""
    rows = [
        f"| `{current}` | {', '.join(f'`{s}`' for s in sorted(allowed)) or '—'} |" for current, allowed in table.items()
    ]
    return "\n".join(["| from | allowed to |", "| --- | --- |", *rows])
