"""Bench data for the lead table: N tenants × M leads with history and tasks, inserted in bulk by PostgreSQL.

    .venv/bin/python bench/leads_data.py                              # 2 tenants × 100,000 leads
    .venv/bin/python bench/leads_data.py --tenants 3 --leads 20000    # other sizes
    .venv/bin/python bench/leads_data.py --reseed                      # drop the database first

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_leads`; created and migrated here).
Tenants, users, pipelines and stages come from the services (as in production); the bulk rows (leads, two history
entries each, tasks on every third lead) come from `INSERT … SELECT generate_series(…)`, so 100,000 leads take
seconds. Every tenant gets the default pipeline plus a second one (10 % of its leads), an owner and 10 managers
(leads are spread over them, 10 % unassigned), sources round-robin, half of the leads with an email, created over
the last 365 days. Then VACUUM ANALYZE, so the planner and the visibility map see the real data.
"""

import argparse
import contextlib
import importlib
import os
import sys
import time
from pathlib import Path

import harness  # a sibling script: bench/ is on the path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_leads"
PASSWORD = "Kx9-quiet-Harbor-71"
MANAGERS = 10
SLUG_PREFIX = "bench-leads-"
ENV = {
    "DJANGO_SETTINGS_MODULE": "crm.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-leads-not-a-secret-0123456789abcdef0123",
    "ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
}

# One statement per table: every row computed from its number i (1..M) in the tenant.
LEADS_SQL = """
INSERT INTO pipelines_lead (tenant_id, name, phone, email, source, external_id, comment, pipeline_id, stage_id,
                            moved_to_stage_at, assigned_to_id, source_payload, created_at, updated_at)
SELECT %(tenant)s,
       (ARRAY['Иван','Анна','Пётр','Мария','Олег','Елена','Сергей','Ольга','Дмитрий','Наталья'])[1 + i %% 10]
         || ' ' || (ARRAY['Иванов','Смирнова','Кузнецов','Попова','Соколов','Лебедева','Новиков'])[1 + i %% 7]
         || ' ' || i,
       '+7916' || lpad((%(tenant)s * 1000000 + i)::text, 7, '0'),
       CASE WHEN i %% 2 = 0 THEN 'client' || i || '@example.com' END,
       (ARRAY['whatsapp','chatflow','site','manual'])[1 + i %% 4],
       NULL, '',
       (%(pipelines)s::bigint[])[pick.k], (%(stages)s::bigint[])[pick.k],
       now() - (i * interval '313 seconds') + interval '1 hour',
       CASE WHEN i %% 10 <> 0 THEN (%(managers)s::bigint[])[1 + i %% %(manager_count)s] END,
       NULL,
       now() - (i * interval '313 seconds'),
       now() - (i * interval '313 seconds') + interval '2 hours'
FROM generate_series(1, %(count)s) AS i,
     LATERAL (SELECT CASE WHEN i %% 10 = 0 THEN %(main_count)s + 1 + i %% %(extra_count)s
                          ELSE 1 + i %% %(main_count)s END AS k) AS pick
"""
HISTORY_SQL = """
INSERT INTO pipelines_leadhistory (tenant_id, lead_id, kind, from_stage_id, to_stage_id, user_id, text, payload,
                                   created_at)
SELECT l.tenant_id, l.id, 'created', NULL::bigint, l.stage_id, NULL::bigint, 'Лид создан', NULL::jsonb, l.created_at
FROM pipelines_lead l WHERE l.tenant_id = %(tenant)s
UNION ALL
SELECT l.tenant_id, l.id, 'stage_changed', l.stage_id, l.stage_id, l.assigned_to_id, 'Стадия: «…» → «…»', NULL::jsonb,
       l.moved_to_stage_at
FROM pipelines_lead l WHERE l.tenant_id = %(tenant)s
"""
TASKS_SQL = """
INSERT INTO tasks_leadtask (tenant_id, lead_id, type, status, due_at, note, assigned_to_id, created_by_id,
                            completed_at, created_at, updated_at)
SELECT l.tenant_id, l.id, (ARRAY['call','meeting','note'])[1 + l.id %% 3],
       CASE WHEN l.id %% 4 = 0 THEN 'done' ELSE 'open' END,
       now() + ((l.id %% 61) - 30) * interval '1 day',
       'Перезвонить', coalesce(l.assigned_to_id, %(owner)s), %(owner)s,
       CASE WHEN l.id %% 4 = 0 THEN now() END, l.created_at, l.created_at
FROM pipelines_lead l WHERE l.tenant_id = %(tenant)s AND l.id %% 3 = 0
"""


# The lead counters of one tenant, recounted (the trigger's cells: pipelines migration 0008).
LEAD_COUNTS_DELETE_SQL = "DELETE FROM pipelines_leadcount WHERE tenant_id = %(tenant)s"
LEAD_COUNTS_SQL = """
INSERT INTO pipelines_leadcount (tenant_id, pipeline_id, stage_id, assignee_key, source, n, price_total)
SELECT tenant_id, pipeline_id, stage_id, coalesce(assigned_to_id, 0), source, count(*), coalesce(sum(price), 0)
FROM pipelines_lead WHERE tenant_id = %(tenant)s GROUP BY 1, 2, 3, 4, 5
"""


@contextlib.contextmanager
def lead_counts_recounted(tenant_id: int):
    """Bulk writes to one tenant's leads without the per-row counter trigger, then its counters recounted at once.

    Within one transaction each row's trigger writes a new version of the same few hundred counter rows, and each
    write walks the versions before it: a million leads took over 20 minutes, against seconds this way.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run while the table has deferred foreign-key checks pending: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE pipelines_lead DISABLE TRIGGER pipelines_lead_count_sync")
        try:
            yield
        finally:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE pipelines_lead ENABLE TRIGGER pipelines_lead_count_sync")
        cursor.execute(LEAD_COUNTS_DELETE_SQL, {"tenant": tenant_id})
        cursor.execute(LEAD_COUNTS_SQL, {"tenant": tenant_id})


def django_setup(db_url: str, extra_env: dict | None = None) -> None:
    os.environ.update(ENV, **(extra_env or {}), DATABASE_URL=db_url)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _tenant_seed(number: int, lead_count: int) -> None:
    from django.db import connection

    from crm.models import Role
    from crm.services import tenant_create, user_create
    from pipelines.models import Pipeline
    from pipelines.services import pipeline_create, stage_create

    slug = f"{SLUG_PREFIX}{number}"
    tenant = tenant_create(name=f"Bench leads {number}", slug=slug)
    owner = user_create(tenant=tenant, username=f"{slug}-owner", password=PASSWORD, role=Role.OWNER)
    managers = [
        user_create(
            tenant=tenant, username=f"{slug}-m{n}", password=PASSWORD, role=Role.MANAGER, full_name=f"Менеджер {n}"
        )
        for n in range(MANAGERS)
    ]
    main = Pipeline.objects.get(tenant=tenant, is_default=True)
    extra = pipeline_create(tenant=tenant, name="Партнёры")
    for name in ("Заявка", "Договор", "Оплата"):
        stage_create(pipeline=extra, name=name, color="#3366ff")
    main_stages = list(main.stages.order_by("order_index").values_list("id", flat=True))
    extra_stages = list(extra.stages.order_by("order_index").values_list("id", flat=True))
    params = {
        "tenant": tenant.pk,
        "owner": owner.pk,
        "managers": [manager.pk for manager in managers],
        "manager_count": MANAGERS,
        "stages": main_stages + extra_stages,
        "pipelines": [main.pk] * len(main_stages) + [extra.pk] * len(extra_stages),
        "main_count": len(main_stages),
        "extra_count": len(extra_stages),
        "count": lead_count,
    }
    with lead_counts_recounted(tenant.pk), connection.cursor() as cursor:
        cursor.execute(LEADS_SQL, params)
    with connection.cursor() as cursor:
        cursor.execute(HISTORY_SQL, params)
        cursor.execute(TASKS_SQL, params)


def lead_indexes(*, drop: bool) -> None:
    """Drop (or re-create) the lead table's indexes for sorts, filters and search; pk and FK indexes stay."""
    from django.db import connection

    from pipelines.models import Lead

    search = importlib.import_module("pipelines.migrations.0010_lead_search_trigrams")
    existing = set(connection.introspection.get_constraints(connection.cursor(), Lead._meta.db_table))
    with connection.schema_editor() as editor:
        for index in Lead._meta.indexes:
            if drop and index.name in existing:
                editor.remove_index(Lead, index)
            elif not drop and index.name not in existing:
                editor.add_index(Lead, index)
        editor.execute(search.DROP_INDEX_SQL if drop else search.INDEX_SQL, params=None)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pipelines_lead")


def seed(*, tenants: int, leads: int) -> bool:
    """Fill the (migrated) database unless it already holds this data; returns whether it seeded."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from crm.models import Tenant
    from pipelines.models import Lead

    call_command("migrate", verbosity=0)
    first = Tenant.objects.filter(slug=f"{SLUG_PREFIX}1").first()
    if first is not None:
        present = Lead.objects.filter(tenant=first).count()
        if present == leads and Tenant.objects.filter(slug__startswith=SLUG_PREFIX).count() == tenants:
            return False
        raise SystemExit(f"The database holds other bench data ({present:,} leads in tenant 1); use --reseed.")
    started = time.monotonic()
    with transaction.atomic():
        # Loaded without the sort and search indexes, then each built once: growing the trigram indexes row by row
        # made a million leads take over 20 minutes.
        lead_indexes(drop=True)
        for number in range(1, tenants + 1):
            _tenant_seed(number, leads)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign keys' deferred checks, before the indexes
        lead_indexes(drop=False)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"Seeded {tenants} tenants × {leads:,} leads (+ history, tasks) in {time.monotonic() - started:.1f} s.")
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--leads", type=int, default=100_000, help="leads per tenant")
    parser.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    args = parser.parse_args(argv)
    harness.database_ensure(args.db_url, reseed=args.reseed)
    django_setup(args.db_url)
    if not seed(tenants=args.tenants, leads=args.leads):
        print("Data already present.")


if __name__ == "__main__":
    main()
