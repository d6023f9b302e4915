from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _register_sqlite_lower(sender, connection, **kwargs):
    """SQLite's LOWER folds ASCII only; `search` must be case-insensitive for Cyrillic on the laptop default too."""
    if connection.vendor == "sqlite":
        from deals.selectors import SQLITE_LOWER

        connection.connection.create_function(SQLITE_LOWER, 1, lambda value: value.lower() if value else value)


class DealsConfig(AppConfig):
    name = "deals"
    verbose_name = _("Сделки")

    def ready(self):
        from deals.api import schema  # noqa: F401 - registers drf-spectacular extensions

        connection_created.connect(_register_sqlite_lower, dispatch_uid="deals_sqlite_lower")
