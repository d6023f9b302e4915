"""Document folders for deals: a provider interface chosen by `settings.DEALS_FOLDER_PROVIDER`.

The default makes a stable id without calling anything; a Google Drive (or other) integration implements
the same one-method interface and is switched on by the setting. A provider must be idempotent per deal id:
the deal's transaction may still roll back (e.g. a concurrent duplicate), and a retry asks again.
"""

import uuid
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

_FOLDER_NAMESPACE = uuid.UUID("5b0c1c1e-8d4f-4a8e-9a53-6f3f3d3b2a10")


class FolderProvider(Protocol):
    def folder_for_deal(self, *, tenant_id: int, deal_id: uuid.UUID, title: str) -> str:
        """Return the id of the deal's document folder, creating the folder if needed."""
        ...


class StableIdFolderProvider:
    """The default: `drive-<uuid5>`, the same for the same deal every time, no external call."""

    def folder_for_deal(self, *, tenant_id: int, deal_id: uuid.UUID, title: str) -> str:
        return f"drive-{uuid.uuid5(_FOLDER_NAMESPACE, f'{tenant_id}:{deal_id}')}"


@lru_cache(maxsize=4)
def _provider(path: str) -> FolderProvider:
    return import_string(path)()


def folder_provider() -> FolderProvider:
    return _provider(settings.DEALS_FOLDER_PROVIDER)
