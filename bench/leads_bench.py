"""The lead table, the pipeline summary, a stage move and webhook intake with 100,000 leads in one tenant, through
the real server.

    .venv/bin/python bench/leads_bench.py                    # seed once (bench/leads_data.py), then measure
    .venv/bin/python bench/leads_bench.py --without-indexes  # the same with the lead table's indexes dropped
    .venv/bin/python bench/leads_bench.py --quick            # fewer requests, shorter wrk runs (smoke test)
    .venv/bin/python bench/leads_bench.py --server gunicorn  # the API side of the split layout: sync workers
    .venv/bin/python bench/leads_bench.py --latency-only     # the sequential latency rows only (no wrk needed)
    .venv/bin/python bench/leads_bench.py --latency-only --leads 1000000 \
        --db-url postgres://postgres@127.0.0.1:5432/crm_bench_leads_1m    # the search at a million leads

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_leads`). The server is
`python -m crm.serve --workers 2` or `gunicorn crm.wsgi -w 2` (DEBUG=0, the psycopg pool, rate limits raised so they
never answer 429, no Redis) with `bench.leads_settings`, which adds the comparison endpoints (bench/leads_floor.py):
the floors (one hand-written SQL query for the same table page or the same pipeline summary, orjson, no auth) and a
textbook DRF ListAPIView + ModelSerializer + LimitOffset. The read tenant's leads get budgets once (two in three
leads, bench data seeded before budgets existed has none), so the summary sums real values.

Two kinds of figures:
- latency: one keep-alive client, requests one after another (no queueing): median and p95 in ms, and the SQL
  query count of the same request taken in-process (Django test client + CaptureQueriesContext);
- throughput: wrk, 2 threads × 16 connections, `--duration` s after a warm-up, interleaved over `--rounds` rounds;
  the ratios (table ÷ floor, table ÷ DRF, deep ÷ first page) are taken within each round, then the median.
Writes (stage moves, intake) go to tenant 2 so the read figures of tenant 1 stay comparable between runs.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import leads_data  # noqa: E402

SERVER_ENV = {
    **leads_data.ENV,
    "DJANGO_SETTINGS_MODULE": "bench.leads_settings",
    "THROTTLE_USER_RATE": "1000000/s",
    "THROTTLE_TENANT_RATE": "1000000/s",
    "THROTTLE_WEBHOOK_RATE": "1000000/s",
    "ACCESS_TOKEN_MINUTES": "1440",
}
DROPPED_ENV = ("REDIS_URL", "WEB_CONCURRENCY", "DB_POOL_MAX_SIZE", "JWT_ALGORITHM", "JWT_SIGNING_KEY")
TABLE = "/api/v2/leads/table"
SEARCH_TERM = "Ольга Попова 4"

PATCH_LUA = """
local ids, stages = {%(ids)s}, {%(stages)s}
local n = 0
request = function()
  n = n + 1
  local body = '{"stage_id": ' .. stages[(n %% #stages) + 1] .. '}'
  return wrk.format("PATCH", "/api/leads/" .. ids[math.random(#ids)] .. "/stage", nil, body)
end
"""
INTAKE_LUA = """
local counter = 0
local thread_id = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
init = function(args)
  thread_id = tonumber(tid) or 0
end
request = function()
  counter = counter + 1
  local phone = string.format("+79%%d%%d%%07d", thread_id, %(run)s, counter)
  local body = '{"name": "Bench intake", "phone": "' .. phone .. '", "message": "hi", "utm_source": "bench"}'
  return wrk.format("POST", nil, nil, body)
end
"""


def _latency(port: int, method: str, path: str, headers: dict, *, bodies=None, warmup: int, requests: int):
    """Median and p95 ms of sequential requests on one keep-alive connection; `bodies(n)` gives the n-th body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings = []
    for index in range(warmup + requests):
        started = time.perf_counter()
        conn.request(method, path, body=bodies(index) if bodies else None, headers=headers)
        response = conn.getresponse()
        content = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {content[:300]!r}")
        if index >= warmup:
            timings.append(elapsed * 1000)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.95))], content


def _query_count(method: str, path: str, username: str | None, body=None) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import User
    from crm.tokens import issue_token_pair

    headers = {"HTTP_HOST": "127.0.0.1"}
    if username:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {issue_token_pair(User.objects.get(username=username))['access']}"
    client = Client(**headers)
    send = getattr(client, method.lower())
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    send(path, **kwargs)  # warm caches a running server already has
    with CaptureQueriesContext(connection) as queries:
        response = send(path, **kwargs)
    assert response.status_code < 300, response.content[:300]
    return len(queries)


def _wrk(port: int, path: str, headers: dict, *, duration: int, script: str | None = None, method="GET"):
    """Requests per second and non-2xx count from one wrk run (after a 2 s warm-up run)."""
    # A deep offset page takes seconds without a cursor: wrk's 2 s default timeout would count none of them.
    args = ["wrk", "-t2", "-c16", "--latency", "--timeout", "60s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or f'wrk.method = "{method}"\n')
    url = f"http://127.0.0.1:{port}{path}"
    subprocess.run([*args, "-d2s", "-s", lua.name, url], capture_output=True, check=True)
    output = subprocess.run([*args, f"-d{duration}s", "-s", lua.name, url], capture_output=True, text=True).stdout
    os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)] if p99 else 0
    return rps, int(errors.group(1)) if errors else 0, float(p99.group(1)) * scale if p99 else 0.0


BUDGETS_SQL = """
UPDATE pipelines_lead SET price = (id %% 5000) * 1000 + 0.5
WHERE tenant_id = %(tenant)s AND id %% 3 <> 0
  AND NOT EXISTS (SELECT 1 FROM pipelines_lead p WHERE p.tenant_id = %(tenant)s AND p.price IS NOT NULL)
"""


def _budgets_ensure(tenant) -> None:
    """Budgets on two in three of the tenant's leads (once: a tenant with any budget is left as it is)."""
    from django.db import connection, transaction

    with transaction.atomic(), leads_data.lead_counts_recounted(tenant.pk), connection.cursor() as cursor:
        cursor.execute(BUDGETS_SQL, {"tenant": tenant.pk})
        budgeted = cursor.rowcount
    if budgeted:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE pipelines_lead")


def main(argv=None) -> None:  # noqa: C901 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=leads_data.DEFAULT_DB_URL)
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per latency row")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--without-indexes", action="store_true", help="drop the lead table's indexes first")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--latency-only", action="store_true", help="skip the wrk throughput runs")
    parser.add_argument("--leads", type=int, default=100_000, help="leads per tenant (a database of its own per size)")
    parser.add_argument("--server", choices=harness.SERVERS, default="serve", help="ASGI, or gunicorn sync workers")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.duration, args.rounds = 40, 5, 3, 1

    harness.database_ensure(args.db_url, reseed=False)
    leads_data.django_setup(args.db_url, {"DJANGO_SETTINGS_MODULE": "bench.leads_settings", **SERVER_ENV})
    leads_data.seed(tenants=2, leads=args.leads)
    leads_data.lead_indexes(drop=args.without_indexes)

    from crm.models import Tenant
    from pipelines.models import Lead, Pipeline, Stage
    from pipelines.selectors import lead_table_cursor_encode

    reads = Tenant.objects.get(slug=f"{leads_data.SLUG_PREFIX}1")
    writes = Tenant.objects.get(slug=f"{leads_data.SLUG_PREFIX}2")
    _budgets_ensure(reads)
    main_pipeline = Pipeline.objects.get(tenant=reads, is_default=True)
    summary = f"/api/pipelines/{main_pipeline.pk}/summary"
    total = Lead.objects.filter(tenant=reads).count()
    deep = Lead.objects.filter(tenant=reads).order_by("-created_at", "-id").values("id", "created_at")[total - 51]
    deep_cursor = lead_table_cursor_encode(ordering="-created_at", value=deep["created_at"], lead_id=deep["id"])
    owner = f"{leads_data.SLUG_PREFIX}1-owner"
    manager = f"{leads_data.SLUG_PREFIX}1-m3"
    writer = f"{leads_data.SLUG_PREFIX}2-owner"
    open_stages = Stage.objects.filter(pipeline__tenant=writes, pipeline__is_default=True, is_closed=False)
    stages = list(open_stages.values_list("id", flat=True))
    write_ids = list(Lead.objects.filter(tenant=writes).order_by("?").values_list("id", flat=True)[:2000])

    latency_rows = [
        ("table: first page", owner, f"{TABLE}?limit=50"),
        ("table: deep page, offset", owner, f"{TABLE}?limit=50&offset={total - 50}"),
        ("table: deep page, cursor", owner, f"{TABLE}?limit=50&cursor={deep_cursor}"),
        ("table: sorted by stage_name", owner, f"{TABLE}?limit=50&ordering=stage_name"),
        ("table: search", owner, f"{TABLE}?limit=50&search={quote_plus(SEARCH_TERM)}"),
        ("table: manager's first page", manager, f"{TABLE}?limit=50"),
        ("floor: one SQL + orjson", None, f"/bench/floor/leads?tenant_id={reads.pk}&limit=50"),
        ("DRF ListAPIView default", owner, "/bench/drf/leads?limit=50"),
        ("summary: owner (whole tenant)", owner, summary),
        ("summary: manager (own leads)", manager, summary),
        ("summary floor: one SQL + orjson", None, f"/bench/floor/summary?pipeline_id={main_pipeline.pk}"),
    ]

    port = harness.free_port()
    log_path = Path(tempfile.gettempdir()) / f"leads_bench_server_{port}.log"
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": args.db_url}
    for name in DROPPED_ENV:
        env.pop(name, None)
    server = harness.server_start(env, port=port, workers=2, log_path=log_path, timeout=30, server=args.server)
    try:
        tokens = {name: harness.token(port, name, leads_data.PASSWORD) for name in (owner, manager, writer)}
        auth = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
        indexes = "dropped" if args.without_indexes else "present"
        print(f"\nServer: {args.server}, 2 workers. Indexes: {indexes}; {total:,} leads in the read tenant.")
        print(f"\n{'latency (sequential)':<32} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'rows':>5} {'total':>7}")
        for label, who, path in latency_rows:
            median, p95, body = _latency(
                port, "GET", path, auth.get(who, {}), warmup=args.warmup, requests=args.requests
            )
            payload = json.loads(body)
            rows = len(payload.get("rows", payload.get("results", payload.get("stages", []))))
            counted = sum(stage["leads"] for stage in payload.get("stages", [])) or "-"
            shown_total = payload.get("total", payload.get("count", counted))
            queries = _query_count("GET", path, who)
            print(f"{label:<32} {median:>10.2f} {p95:>8.2f} {queries:>8} {rows:>5} {shown_total:>7}")
        patch_path = f"/api/leads/{write_ids[0]}/stage"
        patch_headers = {**auth[writer], "Content-Type": "application/json"}
        median, p95, _ = _latency(
            port,
            "PATCH",
            patch_path,
            patch_headers,
            bodies=lambda n: json.dumps({"stage_id": stages[n % len(stages)]}),
            warmup=args.warmup,
            requests=args.requests,
        )
        queries = _query_count("PATCH", patch_path, writer, body=json.dumps({"stage_id": stages[0]}))
        print(f"{'PATCH /api/leads/{id}/stage':<32} {median:>10.2f} {p95:>8.2f} {queries:>8}")
        intake_path = f"/api/webhooks/site/{writes.webhook_key}"
        intake_body = json.dumps({"name": "Seq", "phone": "+79990000001", "message": "hi"})
        queries = _query_count("POST", intake_path, None, body=intake_body)
        print(f"{'POST site webhook (repeat)':<32} {'':>10} {'':>8} {queries:>8}")
        if args.latency_only:
            return

        throughput = {
            "table first page": (f"{TABLE}?limit=50", auth[owner], None),
            "table deep page (cursor)": (f"{TABLE}?limit=50&cursor={deep_cursor}", auth[owner], None),
            "table deep page (offset)": (f"{TABLE}?limit=50&offset={total - 50}", auth[owner], None),
            "floor": (f"/bench/floor/leads?tenant_id={reads.pk}&limit=50", {}, None),
            "DRF default": ("/bench/drf/leads?limit=50", auth[owner], None),
            "summary (owner)": (summary, auth[owner], None),
        }
        patch_script = PATCH_LUA % {"ids": ",".join(map(str, write_ids)), "stages": ",".join(map(str, stages))}
        results: dict[str, list] = {name: [] for name in [*throughput, "PATCH stage", "intake (site webhook)"]}
        for run in range(args.rounds):
            for name, (path, headers, script) in throughput.items():
                results[name].append(_wrk(port, path, headers, duration=args.duration, script=script))
            results["PATCH stage"].append(_wrk(port, "/", patch_headers, duration=args.duration, script=patch_script))
            intake_headers = {"Content-Type": "application/json"}
            results["intake (site webhook)"].append(
                _wrk(port, intake_path, intake_headers, duration=args.duration, script=INTAKE_LUA % {"run": run})
            )
        print(f"\n{'throughput (wrk -t2 -c16)':<32} {'req/s median':>12} {'range':>17} {'p99 ms':>8} {'non-2xx':>8}")
        for name, runs in results.items():
            rates = [run[0] for run in runs]
            print(
                f"{name:<32} {statistics.median(rates):>12.1f} {min(rates):>8.1f}–{max(rates):<8.1f} "
                f"{statistics.median(run[2] for run in runs):>8.1f} {sum(run[1] for run in runs):>8}"
            )

        def ratio(a: str, b: str) -> str:
            pairs = [(x[0], y[0]) for x, y in zip(results[a], results[b], strict=True)]
            if not all(y for _, y in pairs):
                return "n/a"  # a wrk run that completed no request
            return f"{statistics.median(x / y for x, y in pairs):.2f}"

        print("\nratios (median over rounds, each within one round):")
        print(f"  table first page ÷ floor            {ratio('table first page', 'floor'):>4}   (target ≥ 0.50)")
        print(f"  table first page ÷ DRF default      {ratio('table first page', 'DRF default'):>4}   (target ≥ 2)")
        print(f"  deep (cursor) ÷ first page, req/s   {ratio('table deep page (cursor)', 'table first page'):>4}")
        print(f"  deep (offset) ÷ first page, req/s   {ratio('table deep page (offset)', 'table first page'):>4}")
        intake = statistics.median(run[0] for run in results["intake (site webhook)"])
        print(f"  intake leads/s                      {intake:.0f}   (target ≥ 300)")
    finally:
        harness.server_stop(server)
        if args.without_indexes:
            leads_data.lead_indexes(drop=False)
        print(f"\nServer log: {log_path}")


if __name__ == "__main__":
    main()
