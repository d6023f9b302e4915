"""Values as the API writes them, for the `present()` of hot output shapes.

DRF's per-field machinery (building the fields of a ModelSerializer for each response, then walking them) costs more
than the SQL behind a page; a `present()` shapes an object directly, and these helpers keep its values identical to
what the declared DRF fields (still used for the OpenAPI document) would write.
"""

from datetime import tzinfo

from django.utils import timezone


def iso_datetime(value, tz: tzinfo | None = None) -> str | None:
    """An aware datetime as ISO-8601 in the active (the tenant's) timezone, `Z` for UTC: DRF's DateTimeField output.

    A page of rows may pass the active timezone as `tz`, looked up once: the lookup per value costs more than the
    formatting (and `timezone.localtime`'s checks about as much again: stored datetimes are aware).
    """
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
