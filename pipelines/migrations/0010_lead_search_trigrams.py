"""The lead search's index: three-character pieces prefixed with the tenant (PostgreSQL only).

Migration 0004's pg_trgm indexes serve `search` (a substring: UPPER(col) LIKE UPPER('%term%')), but a trigram's
entry lists every tenant's leads: at a million leads a tenant, a search read both tenants' postings and was 44 ms of
its 61. Here every piece of UPPER(name), UPPER(email) and UPPER(phone) is stored as `<tenant id>:<piece>`, so a
search reads the pieces of its own tenant only; a lead contains the term only if it has every piece of it, and
LIKE still decides (pipelines.filtersets.search_q). The pieces are plain three-character windows (no words, no
padding): whatever contains the term contains all of its windows. The pg_trgm indexes go: the planner would
otherwise AND both indexes, which reads the shared postings again.
"""

import importlib

from django.db import migrations

from crm.migration_sql import on_postgresql

# The pg_trgm indexes this replaces (re-created by the reverse migration).
_TRIGRAM = importlib.import_module("pipelines.migrations.0004_table_sort_and_search_indexes")

# A loop, not a set-returning SELECT: 2.5 µs a value against 9 (every lead write computes it three times). GIN
# drops repeated keys of a row itself, and `@>` does not care about repeats.
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION lead_search_trigrams(tenant bigint, value text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    pieces text[] := '{}';
    prefix text := tenant::text || ':';
BEGIN
    FOR i IN 1 .. coalesce(length(value), 0) - 2 LOOP
        pieces := pieces || (prefix || substr(value, i, 3));
    END LOOP;
    RETURN pieces;
END
$$
"""
INDEX_SQL = """
CREATE INDEX IF NOT EXISTS pipelines_lead_search ON pipelines_lead USING gin ((
    lead_search_trigrams(tenant_id, UPPER(name::text))
    || lead_search_trigrams(tenant_id, UPPER(email::text))
    || lead_search_trigrams(tenant_id, UPPER(phone::text))
))
"""
DROP_INDEX_SQL = "DROP INDEX IF EXISTS pipelines_lead_search"
DROP_FUNCTION_SQL = "DROP FUNCTION IF EXISTS lead_search_trigrams(bigint, text)"


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0009_russian_verbose_names"),
    ]

    operations = [
        migrations.RunPython(
            on_postgresql([FUNCTION_SQL, INDEX_SQL, *_TRIGRAM.DROP_TRIGRAM_SQL]),
            on_postgresql([*_TRIGRAM.TRIGRAM_SQL, DROP_INDEX_SQL, DROP_FUNCTION_SQL]),
        ),
    ]
