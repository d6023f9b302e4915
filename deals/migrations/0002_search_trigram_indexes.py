"""Trigram indexes for `search` (client names/tax numbers/contacts, deal titles, journal text); PostgreSQL only.

pg_trgm GIN indexes serve `ILIKE '%fragment%'`, so a search stays an index lookup at hundreds of thousands of
rows. SQLite (the laptop default) has no such indexes and simply scans.
"""

from django.db import migrations

INDEXES = [
    ("deals_client_search_trgm", "deals_client", "search_text"),
    ("deals_deal_title_trgm", "deals_deal", "title"),
    ("deals_journal_text_trgm", "deals_journalentry", "text"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("deals", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
