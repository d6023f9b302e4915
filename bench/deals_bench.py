"""Latency, query count and throughput of the Deals API with 200,000 deals in one tenant, through the real server.

    .venv/bin/python bench/deals_bench.py                      # seed once (bench/deals_data.py), then measure
    .venv/bin/python bench/deals_bench.py --requests 200       # more samples per endpoint
    .venv/bin/python bench/deals_bench.py --no-index-compare   # skip search without the trigram indexes
    .venv/bin/python bench/deals_bench.py --server gunicorn    # the API side of the split layout: sync workers

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_deals`; created, migrated and seeded
by bench/deals_data.py). `python -m crm.serve` (2 workers, DEBUG=0, the psycopg pool, rate limits raised) serves the
product and, through `bench.deals_settings`, two comparison endpoints (bench/deals_floor.py): the raw-SQL + orjson
floor (one query for the same page and columns, no auth, no count) and a default DRF ListAPIView over the same rows.

1. Latency: one keep-alive client sends the requests one after another (no queueing in the figures): median and
   p95 per endpoint; the query count is taken in-process with the same code and data (CaptureQueriesContext).
   Creates alternate with and without `Idempotency-Key`, so both see the same box; the created rows are deleted.
2. Throughput: wrk (`-t2 -c16`) on the plain first page of the product, the floor and the default DRF list,
   interleaved rounds, median requests/s; the ratios are the issue's targets.
3. Search without the pg_trgm indexes (dropped, measured, recreated), to show what the indexes buy.
The 2-core box is shared with other work, so figures are noisy: compare medians, not single runs.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from importlib import import_module
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deals_data  # noqa: E402
import harness  # noqa: E402

SETTINGS = "bench.deals_settings"
TITLE_PREFIX = "Бенч-создание"
NOTE_MARK = "bench-create"
# (label, path); {tenant_id} is filled in. Fragments: `№12345` names 11 deals, `camry` about 14,000 (title or
# journal); `Соколов` about 500 clients, `77000123` about 70 tax numbers.
LISTS = [
    ("deals, first page", "/api/v1/deals?limit=25"),
    ("deals, status=active", "/api/v1/deals?limit=25&status=active"),
    ("deals, search №12345 (11 hits)", "/api/v1/deals?limit=25&search=" + quote("№12345")),
    ("deals, search camry (~14k hits)", "/api/v1/deals?limit=25&search=camry"),
    ("deals, offset 100000", "/api/v1/deals?limit=25&offset=100000"),
    ("clients, search Соколов (name)", "/api/v1/clients?limit=25&search=" + quote("Соколов")),
    ("clients, search 77000123 (tax no.)", "/api/v1/clients?limit=25&search=77000123"),
    ("floor: raw SQL + orjson, first page", "/bench/floor/deals?tenant_id={tenant_id}&limit=25"),
    ("floor: raw SQL + orjson, offset 100000", "/bench/floor/deals?tenant_id={tenant_id}&limit=25&offset=100000"),
    ("default DRF ListAPIView, first page", "/bench/drf/deals?limit=25"),
]
SEARCHES = [label for label, _path in LISTS if "search" in label]
THROUGHPUT = [
    ("product", "/api/v1/deals?limit=25"),
    ("floor", "/bench/floor/deals?tenant_id={tenant_id}&limit=25"),
    ("default DRF", "/bench/drf/deals?limit=25"),
]


def _context() -> dict:
    """The tenant, a token for its owner, and a deal with a policy to create payments on."""
    from crm.models import User
    from crm.tokens import issue_token_pair
    from deals.models import Client, Policy

    owner = User.objects.select_related("tenant").get(username=f"{deals_data.SLUG}-owner")
    policy = Policy.objects.filter(tenant=owner.tenant, status="active").select_related("deal").first()
    return {
        "tenant_id": owner.tenant_id,
        "owner": owner,
        "token": issue_token_pair(owner)["access"],
        "client_id": str(Client.objects.filter(tenant=owner.tenant).values_list("id", flat=True).first()),
        "deal_id": str(policy.deal_id),
        "policy_id": str(policy.id),
    }


def _percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.95))]


def _get(conn, path: str, token: str):
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
    return response, body


def _measure_get(conn, path: str, token: str, *, warmup: int, requests: int) -> dict:
    timings = []
    for index in range(warmup + requests):
        started = time.perf_counter()
        response, body = _get(conn, path, token)
        if index >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    median, p95 = _percentiles(timings)
    return {
        "median_ms": median,
        "p95_ms": p95,
        "rows": len(json.loads(body)),
        "total": response.getheader("X-Total-Count"),
    }


def _query_count(method: str, path: str, token: str, body: dict | None = None, headers: dict | None = None) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")

    def send():
        kwargs = {}
        if body is not None:
            unique = {**body, "title": f"{body['title']}-{uuid.uuid4().hex[:8]}"} if "title" in body else body
            kwargs = {"data": json.dumps(unique), "content_type": "application/json"}
        request_headers = {name: str(uuid.uuid4()) for name in headers or {}}
        return getattr(client, method.lower())(path, **kwargs, headers=request_headers)

    send()  # warm caches (content types, the tenant's timezone) as a running server has them
    with CaptureQueriesContext(connection) as queries:
        response = send()
    assert response.status_code in (200, 201), response.content
    return len(queries)


def _creates(conn, ctx: dict, *, requests: int) -> list[dict]:
    """POST /deals and /payments, alternating without and with an Idempotency-Key (each key new)."""
    run = uuid.uuid4().hex[:6]
    kinds = {
        "deals": lambda i, suffix: (
            "/api/v1/deals",
            {
                "client_id": ctx["client_id"],
                "title": f"{TITLE_PREFIX} {run}-{i}-{suffix}",
                "sales_agent_id": str(ctx["owner"].uuid),
            },
        ),
        "payments": lambda i, suffix: (
            "/api/v1/payments",
            {
                "deal_id": ctx["deal_id"],
                "policy_id": ctx["policy_id"],
                "payment_type": "commission_income",
                "amount": 1234.56,
                "currency": "RUB",
                "notes": NOTE_MARK,
            },
        ),
    }
    results = []
    for kind, build in kinds.items():
        timings = {"without key": [], "with key": []}
        for index in range(requests + 5):
            for label in timings:
                path, body = build(index, "k" if label == "with key" else "n")
                headers = {"Authorization": f"Bearer {ctx['token']}", "Content-Type": "application/json"}
                if label == "with key":
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                started = time.perf_counter()
                conn.request("POST", path, body=json.dumps(body), headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status != 201:
                    raise SystemExit(f"POST {path}: {response.status} {payload[:300]!r}")
                if index >= 5:
                    timings[label].append((time.perf_counter() - started) * 1000)
        path, body = build("q", "q")
        for label, values in timings.items():
            median, p95 = _percentiles(values)
            key = {"Idempotency-Key": "x"} if label == "with key" else None
            results.append(
                {
                    "label": f"POST /api/v1/{kind}, {label}",
                    "median_ms": median,
                    "p95_ms": p95,
                    "queries": _query_count("POST", path, ctx["token"], body, key),
                }
            )
    return results


def _cleanup(tenant_id: int) -> None:
    from crm.models import IdempotencyKey
    from deals.models import Deal, Payment

    Payment.objects.filter(tenant_id=tenant_id, notes=NOTE_MARK).delete()
    Deal.objects.filter(tenant_id=tenant_id, title__startswith=TITLE_PREFIX).delete()
    IdempotencyKey.objects.filter(tenant_id=tenant_id).delete()


def _wrk(url: str, token: str, seconds: int) -> float:
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw errors for {url}:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def _throughput(port: int, ctx: dict, *, rounds: int, seconds: int) -> dict:
    results: dict[str, list[float]] = {label: [] for label, _path in THROUGHPUT}
    for _round in range(rounds):
        for label, path in THROUGHPUT:
            url = f"http://127.0.0.1:{port}{path.format(**ctx)}"
            _wrk(url, ctx["token"], 2)
            results[label].append(_wrk(url, ctx["token"], seconds))
    return {label: {"median": statistics.median(values), "runs": values} for label, values in results.items()}


def _trigram_indexes(*, create: bool) -> None:
    from django.db import connection

    migration = import_module("deals.migrations.0002_search_trigram_indexes")
    with connection.cursor() as cursor:
        for name, table, column in migration.INDEXES:
            if create:
                cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)")
            else:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("ANALYZE deals_deal, deals_journalentry, deals_client")


def _print_table(rows: list[dict]) -> None:
    print(f"{'endpoint':<44} {'median ms':>10} {'p95 ms':>9} {'queries':>8} {'rows':>5} {'X-Total-Count':>14}")
    for row in rows:
        print(
            f"{row['label']:<44} {row['median_ms']:>10.1f} {row['p95_ms']:>9.1f} {row.get('queries', '-'):>8} "
            f"{row.get('rows', '-'):>5} {row.get('total') or '-':>14}"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=deals_data.DEFAULT_DB_URL)
    parser.add_argument("--requests", type=int, default=100, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds")
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--no-index-compare", action="store_true")
    parser.add_argument("--server", choices=harness.SERVERS, default="serve", help="ASGI, or gunicorn sync workers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    harness.database_ensure(args.db_url, reseed=False)
    deals_data.django_setup(args.db_url, SETTINGS)
    deals_data.seed()
    ctx = _context()
    port = harness.free_port()
    log_path = Path("/tmp") / f"deals_bench_server_{port}.log"
    env = {**os.environ, **deals_data.ENV, "DATABASE_URL": args.db_url, "DJANGO_SETTINGS_MODULE": SETTINGS}
    env.pop("REDIS_URL", None)
    server = harness.server_start(env, port=port, workers=args.workers, log_path=log_path, server=args.server)
    results: dict = {"lists": [], "creates": [], "search_without_indexes": [], "throughput": {}}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for label, path in LISTS:
            path = path.format(**ctx)
            row = _measure_get(conn, path, ctx["token"], warmup=args.warmup, requests=args.requests)
            results["lists"].append({"label": label, **row, "queries": _query_count("GET", path, ctx["token"])})
        results["creates"] = _creates(conn, ctx, requests=args.requests)
        if shutil.which("wrk"):
            results["throughput"] = _throughput(port, ctx, rounds=args.rounds, seconds=args.seconds)
        if not args.no_index_compare:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # the old one idled out during wrk
            _trigram_indexes(create=False)
            try:
                for label, path in LISTS:
                    if label in SEARCHES:
                        row = _measure_get(conn, path, ctx["token"], warmup=2, requests=max(10, args.requests // 10))
                        results["search_without_indexes"].append({"label": label, **row})
            finally:
                _trigram_indexes(create=True)
    finally:
        harness.server_stop(server)
        _cleanup(ctx["tenant_id"])

    print(
        f"\nDeals API, {deals_data.DEALS:,} deals, {deals_data.CLIENTS:,} clients in one tenant;"
        f" {args.server}, {args.workers} workers"
    )
    _print_table(results["lists"] + results["creates"])
    if results["search_without_indexes"]:
        print("\nSearch without the pg_trgm indexes:")
        _print_table(results["search_without_indexes"])
    lists = {row["label"]: row for row in results["lists"]}
    creates = {row["label"]: row["median_ms"] for row in results["creates"]}
    first, deep = lists["deals, first page"]["median_ms"], lists["deals, offset 100000"]["median_ms"]
    print("\nTargets:")
    print(f"  offset 100000 / first page (median): {deep / first:.2f}x (target <= 1.5x)")
    for kind in ("deals", "payments"):
        ratio = creates[f"POST /api/v1/{kind}, with key"] / creates[f"POST /api/v1/{kind}, without key"]
        print(f"  POST /{kind} with / without Idempotency-Key (median): {ratio:.2f}x (target <= 1.3x)")
    for label in SEARCHES:
        print(f"  {label}: median {lists[label]['median_ms']:.1f} ms (target < 50 ms)")
    if results["throughput"]:
        rps = {label: values["median"] for label, values in results["throughput"].items()}
        runs = "; ".join(f"{label} {values['runs']}" for label, values in results["throughput"].items())
        print(f"  throughput req/s (median of {args.rounds} wrk runs, c=16): {runs}")
        print(f"  product / floor: {rps['product'] / rps['floor']:.2f} (target >= 0.5)")
        print(f"  product / default DRF: {rps['product'] / rps['default DRF']:.2f} (target >= 2)")
    with open("/proc/loadavg") as loadavg:
        print(f"  load average at the end: {loadavg.read().split()[:3]} (2 cores; other work shares the box)")
    if args.json:
        results["lists"] = list(lists.values())
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
