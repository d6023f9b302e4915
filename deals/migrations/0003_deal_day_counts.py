"""Per-day, per-status deal counters kept by PostgreSQL triggers (see deals.models.DealDayCount); PostgreSQL only.

Every INSERT, DELETE and status (or tenant, or created_at) UPDATE of a deal adjusts its counter in the same
transaction, so the totals are exact for every writer: services, the admin, cascades and bulk COPY alike.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION deals_deal_day_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_day date;
    new_day date;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO deals_dealdaycount AS c (tenant_id, day, status, count)
        VALUES (NEW.tenant_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.status, 1)
        ON CONFLICT (tenant_id, day, status) DO UPDATE SET count = c.count + 1;
        RETURN NULL;
    END IF;
    old_day := (OLD.created_at AT TIME ZONE 'UTC')::date;
    IF TG_OP = 'UPDATE' THEN
        new_day := (NEW.created_at AT TIME ZONE 'UTC')::date;
        INSERT INTO deals_dealdaycount (tenant_id, day, status, count) VALUES (NEW.tenant_id, new_day, NEW.status, 0)
        ON CONFLICT (tenant_id, day, status) DO NOTHING;
        -- Lock both counters in one order, so two opposite moves cannot deadlock.
        PERFORM 1 FROM deals_dealdaycount
        WHERE (tenant_id, day, status) IN ((OLD.tenant_id, old_day, OLD.status), (NEW.tenant_id, new_day, NEW.status))
        ORDER BY tenant_id, day, status FOR UPDATE;
        UPDATE deals_dealdaycount SET count = count + 1
        WHERE tenant_id = NEW.tenant_id AND day = new_day AND status = NEW.status;
    END IF;
    UPDATE deals_dealdaycount SET count = count - 1
    WHERE tenant_id = OLD.tenant_id AND day = old_day AND status = OLD.status;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deals_deal_day_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deals_dealdaycount;
    RETURN NULL;
END $$;

CREATE TRIGGER deals_deal_day_count_ins_del AFTER INSERT OR DELETE ON deals_deal
    FOR EACH ROW EXECUTE FUNCTION deals_deal_day_count();
CREATE TRIGGER deals_deal_day_count_upd AFTER UPDATE OF status, tenant_id, created_at ON deals_deal
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
        OR OLD.created_at IS DISTINCT FROM NEW.created_at
    )
    EXECUTE FUNCTION deals_deal_day_count();
CREATE TRIGGER deals_deal_day_count_truncate AFTER TRUNCATE ON deals_deal
    FOR EACH STATEMENT EXECUTE FUNCTION deals_deal_day_count_truncate();

INSERT INTO deals_dealdaycount (tenant_id, day, status, count)
SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date, status, count(*) FROM deals_deal GROUP BY 1, 2, 3;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS deals_deal_day_count_truncate ON deals_deal;
DROP TRIGGER IF EXISTS deals_deal_day_count_upd ON deals_deal;
DROP TRIGGER IF EXISTS deals_deal_day_count_ins_del ON deals_deal;
DROP FUNCTION IF EXISTS deals_deal_day_count_truncate();
DROP FUNCTION IF EXISTS deals_deal_day_count();
"""


def triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0001_initial'),
        ('deals', '0002_search_trigram_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='DealDayCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('status', models.CharField(choices=[('draft', 'Черновик'), ('estimating', 'Расчёт'), ('awaiting_client', 'Ожидание клиента'), ('issuing', 'Оформление'), ('active', 'Действует'), ('closed', 'Закрыта')], max_length=16)),
                ('count', models.BigIntegerField(default=0)),
                ('tenant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.tenant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tenant', 'day', 'status'), name='deals_daycount_uniq')],
            },
        ),
        migrations.RunPython(triggers_create, triggers_drop, elidable=False),
    ]
