"""Notify `crm_auth_rows` on every change to the rows an access token is checked against (crm.auth_rows).

Triggers, not signals: a queryset `.update()`, raw SQL or a TRUNCATE must invalidate the per-process caches as
surely as a model's save. A tenant's round-robin cursor is written on each distributed lead and decides nothing
about access, so that column alone changing does not notify.
"""

from django.db import migrations

from crm.auth_rows import CHANNEL
from crm.migration_sql import on_postgresql

NOTIFY_SQL = [
    f"""
    CREATE FUNCTION crm_notify_auth_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', '');
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER crm_user_auth_rows AFTER UPDATE OR DELETE OR TRUNCATE ON crm_user
    FOR EACH STATEMENT EXECUTE FUNCTION crm_notify_auth_rows()
    """,
    """
    CREATE TRIGGER crm_tenant_auth_rows AFTER UPDATE ON crm_tenant FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'distribution_cursor_user_id') IS DISTINCT FROM (to_jsonb(NEW) - 'distribution_cursor_user_id'))
    EXECUTE FUNCTION crm_notify_auth_rows()
    """,
    """
    CREATE TRIGGER crm_tenant_auth_rows_removed AFTER DELETE OR TRUNCATE ON crm_tenant
    FOR EACH STATEMENT EXECUTE FUNCTION crm_notify_auth_rows()
    """,
]

DROP_NOTIFY_SQL = [
    "DROP TRIGGER crm_tenant_auth_rows_removed ON crm_tenant",
    "DROP TRIGGER crm_tenant_auth_rows ON crm_tenant",
    "DROP TRIGGER crm_user_auth_rows ON crm_user",
    "DROP FUNCTION crm_notify_auth_rows()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_russian_verbose_names"),
    ]

    operations = [
        migrations.RunPython(on_postgresql(NOTIFY_SQL), on_postgresql(DROP_NOTIFY_SQL)),
    ]
