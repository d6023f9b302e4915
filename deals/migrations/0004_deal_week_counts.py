"""Per-week (not per-day) deal counters, kept by PostgreSQL triggers (see deals.models.DealWeekCount); PostgreSQL only.

Every INSERT, DELETE and status (or tenant, or created_at) UPDATE of a deal adjusts its counter in the same
transaction, so the totals are exact for every writer: services, the admin, cascades and bulk COPY alike. Weeks
replace the days of 0003: a day-level table made the list's total sum ~4,400 counters at 200,000 deals.
"""

import django.db.models.deletion
from django.db import migrations, models

WEEK = "(date_trunc('week', {row}.created_at AT TIME ZONE 'UTC'))::date"

FORWARD = """
CREATE OR REPLACE FUNCTION deals_deal_week_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_week date;
    new_week date;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO deals_dealweekcount AS c (tenant_id, week, status, count)
        VALUES (NEW.tenant_id, NEW_WEEK, NEW.status, 1)
        ON CONFLICT (tenant_id, week, status) DO UPDATE SET count = c.count + 1;
        RETURN NULL;
    END IF;
    old_week := OLD_WEEK;
    IF TG_OP = 'UPDATE' THEN
        new_week := NEW_WEEK;
        INSERT INTO deals_dealweekcount (tenant_id, week, status, count) VALUES (NEW.tenant_id, new_week, NEW.status, 0)
        ON CONFLICT (tenant_id, week, status) DO NOTHING;
        -- Lock both counters in one order, so two opposite moves cannot deadlock.
        PERFORM 1 FROM deals_dealweekcount
        WHERE (tenant_id, week, status) IN ((OLD.tenant_id, old_week, OLD.status), (NEW.tenant_id, new_week, NEW.status))
        ORDER BY tenant_id, week, status FOR UPDATE;
        UPDATE deals_dealweekcount SET count = count + 1
        WHERE tenant_id = NEW.tenant_id AND week = new_week AND status = NEW.status;
    END IF;
    UPDATE deals_dealweekcount SET count = count - 1
    WHERE tenant_id = OLD.tenant_id AND week = old_week AND status = OLD.status;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deals_deal_week_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deals_dealweekcount;
    RETURN NULL;
END $$;

CREATE TRIGGER deals_deal_week_count_ins_del AFTER INSERT OR DELETE ON deals_deal
    FOR EACH ROW EXECUTE FUNCTION deals_deal_week_count();
CREATE TRIGGER deals_deal_week_count_upd AFTER UPDATE OF status, tenant_id, created_at ON deals_deal
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
        OR OLD.created_at IS DISTINCT FROM NEW.created_at
    )
    EXECUTE FUNCTION deals_deal_week_count();
CREATE TRIGGER deals_deal_week_count_truncate AFTER TRUNCATE ON deals_deal
    FOR EACH STATEMENT EXECUTE FUNCTION deals_deal_week_count_truncate();

INSERT INTO deals_dealweekcount (tenant_id, week, status, count)
SELECT tenant_id, DEAL_WEEK, status, count(*) FROM deals_deal GROUP BY 1, 2, 3;
""".replace("NEW_WEEK", WEEK.format(row="NEW")).replace("OLD_WEEK", WEEK.format(row="OLD")).replace(
    "DEAL_WEEK", WEEK.format(row="deals_deal")
)

BACKWARD = """
DROP TRIGGER IF EXISTS deals_deal_week_count_truncate ON deals_deal;
DROP TRIGGER IF EXISTS deals_deal_week_count_upd ON deals_deal;
DROP TRIGGER IF EXISTS deals_deal_week_count_ins_del ON deals_deal;
DROP FUNCTION IF EXISTS deals_deal_week_count_truncate();
DROP FUNCTION IF EXISTS deals_deal_week_count();
"""

DAY_TRIGGERS_DROP = """
DROP TRIGGER IF EXISTS deals_deal_day_count_truncate ON deals_deal;
DROP TRIGGER IF EXISTS deals_deal_day_count_upd ON deals_deal;
DROP TRIGGER IF EXISTS deals_deal_day_count_ins_del ON deals_deal;
DROP FUNCTION IF EXISTS deals_deal_day_count_truncate();
DROP FUNCTION IF EXISTS deals_deal_day_count();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0001_initial'),
        ('deals', '0003_deal_day_counts'),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(DAY_TRIGGERS_DROP), migrations.RunPython.noop, elidable=False),
        migrations.CreateModel(
            name='DealWeekCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('week', models.DateField()),
                ('status', models.CharField(choices=[('draft', 'Черновик'), ('estimating', 'Расчёт'), ('awaiting_client', 'Ожидание клиента'), ('issuing', 'Оформление'), ('active', 'Действует'), ('closed', 'Закрыта')], max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('tenant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.tenant')),
            ],
        ),
        migrations.DeleteModel(
            name='DealDayCount',
        ),
        migrations.AddConstraint(
            model_name='dealweekcount',
            constraint=models.UniqueConstraint(fields=('tenant', 'week', 'status'), name='deals_weekcount_uniq'),
        ),
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False),
    ]
