"""Per-(tenant, status, payment_type) payment counters, kept by PostgreSQL triggers (see deals.models.PaymentCount).

Every INSERT, DELETE and status (or type, or tenant) UPDATE of a payment adjusts its counter in the same transaction,
so the payment list's total is exact for every writer: services, the admin, deal cascades and bulk COPY alike.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION deals_payment_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO deals_paymentcount AS c (tenant_id, status, payment_type, count)
        VALUES (NEW.tenant_id, NEW.status, NEW.payment_type, 1)
        ON CONFLICT (tenant_id, status, payment_type) DO UPDATE SET count = c.count + 1;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO deals_paymentcount (tenant_id, status, payment_type, count)
        VALUES (NEW.tenant_id, NEW.status, NEW.payment_type, 0)
        ON CONFLICT (tenant_id, status, payment_type) DO NOTHING;
        -- Lock both counters in one order, so two opposite moves cannot deadlock.
        PERFORM 1 FROM deals_paymentcount
        WHERE (tenant_id, status, payment_type) IN
            ((OLD.tenant_id, OLD.status, OLD.payment_type), (NEW.tenant_id, NEW.status, NEW.payment_type))
        ORDER BY tenant_id, status, payment_type FOR UPDATE;
        UPDATE deals_paymentcount SET count = count + 1
        WHERE tenant_id = NEW.tenant_id AND status = NEW.status AND payment_type = NEW.payment_type;
    END IF;
    UPDATE deals_paymentcount SET count = count - 1
    WHERE tenant_id = OLD.tenant_id AND status = OLD.status AND payment_type = OLD.payment_type;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deals_payment_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deals_paymentcount;
    RETURN NULL;
END $$;

CREATE TRIGGER deals_payment_count_ins_del AFTER INSERT OR DELETE ON deals_payment
    FOR EACH ROW EXECUTE FUNCTION deals_payment_count();
CREATE TRIGGER deals_payment_count_upd AFTER UPDATE OF status, payment_type, tenant_id ON deals_payment
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.payment_type IS DISTINCT FROM NEW.payment_type
        OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
    )
    EXECUTE FUNCTION deals_payment_count();
CREATE TRIGGER deals_payment_count_truncate AFTER TRUNCATE ON deals_payment
    FOR EACH STATEMENT EXECUTE FUNCTION deals_payment_count_truncate();

INSERT INTO deals_paymentcount (tenant_id, status, payment_type, count)
SELECT tenant_id, status, payment_type, count(*) FROM deals_payment GROUP BY 1, 2, 3;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS deals_payment_count_truncate ON deals_payment;
DROP TRIGGER IF EXISTS deals_payment_count_upd ON deals_payment;
DROP TRIGGER IF EXISTS deals_payment_count_ins_del ON deals_payment;
DROP FUNCTION IF EXISTS deals_payment_count_truncate();
DROP FUNCTION IF EXISTS deals_payment_count();
"""


def _on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0005_russian_verbose_names'),
        ('deals', '0008_russian_verbose_names'),
    ]

    operations = [
        migrations.CreateModel(
            name='PaymentCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('planned', 'Запланирован'), ('expected', 'Ожидается'), ('received', 'Получен'), ('paid_out', 'Выплачен'), ('cancelled', 'Отменён')], max_length=16)),
                ('payment_type', models.CharField(choices=[('client_premium', 'Премия клиента'), ('commission_income', 'Комиссионный доход'), ('client_discount', 'Скидка клиенту'), ('executor_fee', 'Вознаграждение исполнителю')], max_length=32)),
                ('count', models.BigIntegerField(default=0)),
                ('tenant', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.tenant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tenant', 'status', 'payment_type'), name='deals_paymentcount_uniq')],
            },
        ),
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD), elidable=False),
    ]
