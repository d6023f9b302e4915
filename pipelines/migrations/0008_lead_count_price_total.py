from django.db import migrations, models

from crm.migration_sql import on_postgresql

# The cells also sum the budgets of their leads (SPEC §12: the pipeline summary): the trigger passes each lead's
# price with its +1 / -1, and fires on a change of price alone too (the cell is then debited the old price and
# credited the new one). The order of the two updates is kept from migration 0002 (no deadlock between opposite
# moves).
CREATE_SQL = [
    """
CREATE OR REPLACE FUNCTION pipelines_lead_count_add(
    p_tenant bigint, p_pipeline bigint, p_stage bigint, p_assignee bigint, p_source text, p_delta int,
    p_price numeric
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO pipelines_leadcount (tenant_id, pipeline_id, stage_id, assignee_key, source, n, price_total)
    VALUES (p_tenant, p_pipeline, p_stage, coalesce(p_assignee, 0), p_source, p_delta, coalesce(p_price, 0) * p_delta)
    ON CONFLICT (tenant_id, pipeline_id, stage_id, assignee_key, source)
    DO UPDATE SET n = pipelines_leadcount.n + EXCLUDED.n,
                  price_total = pipelines_leadcount.price_total + EXCLUDED.price_total;
$$
""",
    """
CREATE OR REPLACE FUNCTION pipelines_lead_count_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key text;
    new_key text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tenant_id = OLD.tenant_id AND NEW.pipeline_id = OLD.pipeline_id
       AND NEW.stage_id = OLD.stage_id AND NEW.assigned_to_id IS NOT DISTINCT FROM OLD.assigned_to_id
       AND NEW.source = OLD.source AND NEW.price IS NOT DISTINCT FROM OLD.price THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_key := concat_ws('/', OLD.tenant_id, OLD.pipeline_id, OLD.stage_id, coalesce(OLD.assigned_to_id, 0),
                             OLD.source);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_key := concat_ws('/', NEW.tenant_id, NEW.pipeline_id, NEW.stage_id, coalesce(NEW.assigned_to_id, 0),
                             NEW.source);
    END IF;
    IF new_key IS NOT NULL AND (old_key IS NULL OR new_key < old_key) THEN
        PERFORM pipelines_lead_count_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id,
                                         NEW.assigned_to_id, NEW.source, 1, NEW.price);
        new_key := NULL;
    END IF;
    IF old_key IS NOT NULL THEN
        PERFORM pipelines_lead_count_add(OLD.tenant_id, OLD.pipeline_id, OLD.stage_id,
                                         OLD.assigned_to_id, OLD.source, -1, OLD.price);
    END IF;
    IF new_key IS NOT NULL THEN
        PERFORM pipelines_lead_count_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id,
                                         NEW.assigned_to_id, NEW.source, 1, NEW.price);
    END IF;
    RETURN NULL;
END $$
""",
    "DROP FUNCTION IF EXISTS pipelines_lead_count_add(bigint, bigint, bigint, bigint, text, int)",
    """
UPDATE pipelines_leadcount AS c SET price_total = s.price_total
FROM (SELECT tenant_id, pipeline_id, stage_id, coalesce(assigned_to_id, 0) AS assignee_key, source,
             sum(price) AS price_total
      FROM pipelines_lead WHERE price IS NOT NULL GROUP BY 1, 2, 3, 4, 5) AS s
WHERE (c.tenant_id, c.pipeline_id, c.stage_id, c.assignee_key, c.source)
    = (s.tenant_id, s.pipeline_id, s.stage_id, s.assignee_key, s.source)
""",
]
# Back to migration 0002's functions (counts only).
RESTORE_SQL = [
    """
CREATE OR REPLACE FUNCTION pipelines_lead_count_add(
    p_tenant bigint, p_pipeline bigint, p_stage bigint, p_assignee bigint, p_source text, p_delta int
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO pipelines_leadcount (tenant_id, pipeline_id, stage_id, assignee_key, source, n)
    VALUES (p_tenant, p_pipeline, p_stage, coalesce(p_assignee, 0), p_source, p_delta)
    ON CONFLICT (tenant_id, pipeline_id, stage_id, assignee_key, source)
    DO UPDATE SET n = pipelines_leadcount.n + EXCLUDED.n;
$$
""",
    """
CREATE OR REPLACE FUNCTION pipelines_lead_count_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key text;
    new_key text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tenant_id = OLD.tenant_id AND NEW.pipeline_id = OLD.pipeline_id
       AND NEW.stage_id = OLD.stage_id AND NEW.assigned_to_id IS NOT DISTINCT FROM OLD.assigned_to_id
       AND NEW.source = OLD.source THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_key := concat_ws('/', OLD.tenant_id, OLD.pipeline_id, OLD.stage_id, coalesce(OLD.assigned_to_id, 0),
                             OLD.source);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_key := concat_ws('/', NEW.tenant_id, NEW.pipeline_id, NEW.stage_id, coalesce(NEW.assigned_to_id, 0),
                             NEW.source);
    END IF;
    IF new_key IS NOT NULL AND (old_key IS NULL OR new_key < old_key) THEN
        PERFORM pipelines_lead_count_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id,
                                         NEW.assigned_to_id, NEW.source, 1);
        new_key := NULL;
    END IF;
    IF old_key IS NOT NULL THEN
        PERFORM pipelines_lead_count_add(OLD.tenant_id, OLD.pipeline_id, OLD.stage_id,
                                         OLD.assigned_to_id, OLD.source, -1);
    END IF;
    IF new_key IS NOT NULL THEN
        PERFORM pipelines_lead_count_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id,
                                         NEW.assigned_to_id, NEW.source, 1);
    END IF;
    RETURN NULL;
END $$
""",
    "DROP FUNCTION IF EXISTS pipelines_lead_count_add(bigint, bigint, bigint, bigint, text, int, numeric)",
]


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0007_default_outcomes_and_loss_reasons")]

    operations = [
        migrations.AddField(
            model_name="leadcount",
            name="price_total",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=20),
        ),
        migrations.RunPython(on_postgresql(CREATE_SQL), on_postgresql(RESTORE_SQL)),
    ]
