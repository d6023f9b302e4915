"""Object versions (SPEC §11): the `version` column, the writer's expectation, and the one way to bump it.

Leads, lead tasks, clients, deals, policies, payments and v1 tasks carry `version`: 1 on create, +1 on every stored
change. A service that changes such an object locks its row, checks the caller's `Expected` against the locked
version (stale `If-Match` → 412 `precondition_failed`, stale body `version` → 409 `conflict`) and saves through
`save_bumped`, which lets the database add the 1. The API (`crm.api.versioning`) and the admin build `Expected`;
this module knows nothing of HTTP.
"""

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy

from crm.errors import Conflict, PreconditionFailed

# The column is a PostgreSQL integer; nothing larger can ever be a current version.
MAX_VERSION = 2**31 - 1
# What the back-office shows for a stale save (its change forms carry the version they were opened with).
STALE_ADMIN_MESSAGE = gettext_lazy(
    "Объект изменён другим пользователем, пока вы его редактировали. Откройте его заново и повторите изменения."
)


class StaleIfMatch(PreconditionFailed):
    """412: `If-Match` (or an admin form's version) is not the current version."""

    admin_message = STALE_ADMIN_MESSAGE


class StaleVersion(Conflict):
    """409 conflict: the body's `version` is not the current version."""

    admin_message = STALE_ADMIN_MESSAGE


def version_field() -> models.PositiveIntegerField:
    """The `version` column; `db_default` so rows inserted by raw SQL (bench data) start at 1 too."""
    return models.PositiveIntegerField(
        default=1,
        db_default=1,
        editable=False,
        help_text="1 on create, +1 on every stored change; send it back as If-Match or `version` (SPEC §11).",
    )


@dataclass(frozen=True)
class Expected:
    """The version a writer based its change on; None means "no expectation" (the change applies as before)."""

    # From `If-Match` (or an admin form's hidden field): stale → 412 precondition_failed.
    if_match: int | None = None
    # From the body's `version`: stale → 409 conflict.
    body: int | None = None

    def check(self, current: int) -> None:
        """Raise unless every given expectation is the current version; call it with the row locked."""
        if self.if_match is not None and self.if_match != current:
            raise StaleIfMatch(
                f"The object has changed: If-Match is {self.if_match}, the current version is {current}.",
                details={"If-Match": [f"The current version is {current}."]},
            )
        if self.body is not None and self.body != current:
            raise StaleVersion(
                f"Version conflict: you sent version {self.body}, the current version is {current}.",
                details={"version": [f"The current version is {current}."]},
            )


ANY = Expected()


# `instance` is Any: a model with a version_field() column, which models.Model does not declare.
def save_bumped(instance: Any, update_fields=None, **save_kwargs) -> None:
    """Save a locked row with `version = version + 1` computed by the database in the same UPDATE.

    The caller holds the row lock (SELECT … FOR UPDATE) and has checked its `Expected`, so the in-memory version
    simply follows the database's: no concurrent writer can have changed it in between.
    """
    current = instance.version
    instance.version = F("version") + 1
    fields = None if update_fields is None else [*update_fields, "version"]
    try:
        instance.save(update_fields=fields, **save_kwargs)
    except BaseException:
        instance.version = current
        raise
    instance.version = current + 1
