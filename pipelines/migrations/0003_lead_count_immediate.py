from django.db import migrations

from crm.migration_sql import on_postgresql

# Counting at once, so a transaction (a test's, too) reads its own writes in the totals. The constraint trigger
# stays DEFERRABLE: a bulk writer may `SET CONSTRAINTS pipelines_lead_count_sync DEFERRED` to take each cell's
# row lock only at commit.
RECREATE_SQL = [
    "DROP TRIGGER IF EXISTS pipelines_lead_count_sync ON pipelines_lead",
    """
CREATE CONSTRAINT TRIGGER pipelines_lead_count_sync
    AFTER INSERT OR UPDATE OR DELETE ON pipelines_lead
    DEFERRABLE INITIALLY IMMEDIATE
    FOR EACH ROW EXECUTE FUNCTION pipelines_lead_count_sync()
""",
]
RESTORE_SQL = [
    "DROP TRIGGER IF EXISTS pipelines_lead_count_sync ON pipelines_lead",
    """
CREATE CONSTRAINT TRIGGER pipelines_lead_count_sync
    AFTER INSERT OR UPDATE OR DELETE ON pipelines_lead
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION pipelines_lead_count_sync()
""",
]


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0002_lead_count")]

    operations = [migrations.RunPython(on_postgresql(RECREATE_SQL), on_postgresql(RESTORE_SQL))]
