from django.db import migrations

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


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0002_lead_count")]

    operations = [migrations.RunPython(_run(RECREATE_SQL), _run(RESTORE_SQL))]
