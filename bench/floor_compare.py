"""The hot endpoints on the production layout against a raw floor on the same database, interleaved (issue 18).

    .venv/bin/python bench/floor_compare.py                                   # seed once, then 3 rounds (~12 min)
    .venv/bin/python bench/floor_compare.py --markdown --json bench/results/floor.json
    .venv/bin/python bench/floor_compare.py --quick --only me,deals           # one short round: a smoke test

One PostgreSQL database (`--db-url`) holds both bench data sets (bench/deals_data.py: 200,000 deals, 160,000
payments; bench/leads_data.py: one tenant with 100,000 leads); they are seeded once. Two servers run side by side:
- product: the production layout, `gunicorn crm.wsgi -w 2`, DEBUG=0, the psycopg pool as settings configure it,
  REDIS_URL on a real Redis (`--redis-url`; throttling, events), the rate limits raised so nothing answers 429;
- floor: bench/floor_app.py under `gunicorn -w 2`: no Django, one SQL statement for the same rows and columns,
  orjson, one psycopg connection per worker.
Both answer one request per endpoint first and must agree (status, row count, keys) before anything is measured.
Each run: wait (bounded) for an idle box, wrk -t2 -c16 for `--warmup` s, then `--duration` s measured with
--latency. Per run: req/s, p50, p99, non-2xx, CPU ms/request of the server's processes plus its own PostgreSQL
backends, and the foreign CPU % (the box's CPU outside both of those and wrk; the shared Redis counts as foreign).
SQL statements per request are counted once per endpoint in-process (CaptureQueriesContext).
"""

import argparse
import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402 - sibling scripts
import psycopg  # noqa: E402
from servers import HZ, cpu_busy_jiffies, parse_wrk, process_cpu, wait_idle  # noqa: E402

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_floor"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
SECRET_KEY = "bench-floor-not-a-secret-0123456789abcdef0123"
FLOOR_APPLICATION_NAME = "bench-floor"  # floor_app.py's connections; every other client backend is the product's
LEADS_TENANT, DEALS_TENANT = "bench-leads-1", "bench-deals"
# New leads land in a tenant of their own, so the read tenant keeps the seeded 100,000 (and leads_data.py its check).
WRITES_TENANT = "bench-floor-intake"
PRODUCT_ENV = {
    "DJANGO_SETTINGS_MODULE": "crm.settings",
    "DEBUG": "0",
    "SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": "127.0.0.1,testserver",
    "LOG_LEVEL": "WARNING",
    "ACCESS_TOKEN_MINUTES": "1440",
    "THROTTLE_USER_RATE": "1000000/s",
    "THROTTLE_TENANT_RATE": "1000000/s",
    "THROTTLE_WEBHOOK_RATE": "1000000/s",
    "EVENTS_REDIS_CHANNEL_PREFIX": "bench-floor",
}
# The production defaults of settings.py apply (the pool's size and timeout); the caller's own choices must not leak.
DROPPED_ENV = (
    "WEB_CONCURRENCY",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_TIMEOUT",
    "DB_PREPARE_THRESHOLD",
    "JWT_ALGORITHM",
    "JWT_SIGNING_KEY",
)
WRITE_LEADS = 2000

PATCH_LUA = """
local ids, stages = {%(ids)s}, {%(stages)s}
local n = 0
request = function()
  n = n + 1
  local body = '{"stage_id": ' .. stages[(n %% #stages) + 1] .. '}'
  return wrk.format("PATCH", "/api/leads/" .. ids[math.random(#ids)] .. "/stage%(suffix)s", nil, body)
end
"""
# New phones only (+795…, above the highest one already stored), so the product creates a lead for each request.
INTAKE_LUA = """
local counter, thread_id, threads = 0, 0, {}
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
init = function(args)
  thread_id = tonumber(tid) or 0
end
request = function()
  counter = counter + 1
  local phone = string.format("+795%%08d", %(base)s + counter * %(threads)s + thread_id)
  local body = '{"name": "Bench intake", "phone": "' .. phone .. '", "message": "hi", "utm_source": "bench"}'
  return wrk.format("POST", nil, nil, body)
end
"""


@dataclass(frozen=True)
class Endpoint:
    label: str
    method: str
    path: str  # {placeholders} from the context
    rows_key: str = ""  # the body's key holding the rows ("": the body itself, a list or one object)
    tenant: str = "leads"  # whose data ("leads", "deals" or "writes"); the floor gets its id as ?tenant_id=


ENDPOINTS = {
    "me": Endpoint("GET /api/auth/me", "GET", "/api/auth/me"),
    "deals": Endpoint("GET /api/v1/deals?limit=25", "GET", "/api/v1/deals?limit=25", tenant="deals"),
    "payments": Endpoint("GET /api/v1/payments", "GET", "/api/v1/payments", tenant="deals"),
    "table": Endpoint("GET /api/v2/leads/table?limit=50", "GET", "/api/v2/leads/table?limit=50", "rows"),
    "tasks": Endpoint("GET /api/tasks?status=open&due=today", "GET", "/api/tasks?status=open&due=today", "tasks"),
    "stage": Endpoint("PATCH /api/leads/{id}/stage", "PATCH", "/api/leads/{lead}/stage"),
    "intake": Endpoint(
        "POST /api/webhooks/site/{key} (new leads)", "POST", "/api/webhooks/site/{webhook_key}", tenant="writes"
    ),
}
FLOOR_NOTES = {"me": "JWT decode + user row", "stage": "UPDATE … RETURNING", "intake": "INSERT … RETURNING id"}


# ---------------------------------------------------------------------------------------------------- setup


def product_env(args) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(PRODUCT_ENV, DATABASE_URL=args.db_url, REDIS_URL=args.redis_url)
    return env


def floor_env(args) -> dict[str, str]:
    return {**os.environ, "FLOOR_DATABASE_URL": args.db_url, "FLOOR_JWT_KEY": SECRET_KEY}


def seed(args) -> None:
    """Both bench data sets in one database; each seeder skips when its data is present."""
    harness.database_ensure(args.db_url, reseed=False)
    python = sys.executable
    deals = [python, str(BENCH / "deals_data.py"), "--db-url", args.db_url]
    leads = [python, str(BENCH / "leads_data.py"), "--db-url", args.db_url, "--tenants", "1", "--leads", "100000"]
    for command in (deals, leads):  # their progress on stderr: stdout carries only the tables
        subprocess.run(command, check=True, stdout=sys.stderr)


def context(args) -> dict:
    """Ids, tokens and SQL statement counts, from a child process running Django with the product's environment."""
    command = [sys.executable, str(Path(__file__).resolve()), "--context", "--db-url", args.db_url]
    output = subprocess.run(command, env=product_env(args), check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _statements(queries) -> tuple[int, int]:
    """(SQL statements without the transaction brackets, commits: COMMITs plus writes in autocommit)."""
    statements = commits = 0
    in_transaction = False
    for query in queries:
        sql = query["sql"].lstrip().upper()
        if sql.startswith(("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT")):
            in_transaction = in_transaction or sql.startswith("BEGIN")
            continue
        if sql.startswith("COMMIT"):
            commits, in_transaction = commits + 1, False
            continue
        statements += 1
        writes = sql.startswith(("INSERT", "UPDATE", "DELETE")) or (
            sql.startswith("WITH") and any(verb in sql for verb in ("INSERT ", "UPDATE ", "DELETE "))
        )
        if writes and not in_transaction:
            commits += 1
    return statements, commits


def context_print() -> None:
    """--context: run in the child with Django set up; prints one JSON object."""
    import django

    sys.path.insert(0, str(harness.REPO))
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import Role, Tenant, User
    from crm.services import tenant_create
    from crm.tokens import issue_token_pair
    from pipelines.models import Lead, Stage

    leads, deals = Tenant.objects.get(slug=LEADS_TENANT), Tenant.objects.get(slug=DEALS_TENANT)
    writes = Tenant.objects.filter(slug=WRITES_TENANT).first() or tenant_create(name="Bench intake", slug=WRITES_TENANT)
    owners = {
        tenant: User.objects.get(tenant=tenant, role=Role.OWNER, username__endswith="-owner")
        for tenant in (leads, deals)
    }
    default_stages = Stage.objects.filter(pipeline__tenant=leads, pipeline__is_default=True)
    stages = list(default_stages.filter(is_closed=False).values_list("id", flat=True))
    write_ids = Lead.objects.filter(tenant=leads, pipeline__is_default=True).order_by("id").values_list("id", flat=True)
    found = {
        "tenants": {"leads": leads.pk, "deals": deals.pk, "writes": writes.pk},
        "tokens": {
            "leads": issue_token_pair(owners[leads])["access"],
            "deals": issue_token_pair(owners[deals])["access"],
        },
        "webhook_key": writes.webhook_key,
        "stages": stages,
        "write_ids": list(write_ids[:WRITE_LEADS]),
        "statements": {},
    }
    found["lead"] = found["write_ids"][0]
    for name, endpoint in ENDPOINTS.items():
        token = found["tokens"]["deals" if endpoint.tenant == "deals" else "leads"]  # the webhook ignores it
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
        send = getattr(client, endpoint.method.lower())
        kwargs = {"data": json.dumps(_sample_body(name, found, 1)), "content_type": "application/json"}
        send(endpoint.path.format(**found), **(kwargs if endpoint.method != "GET" else {}))  # warm what a server caches
        kwargs["data"] = json.dumps(_sample_body(name, found, 2))
        with CaptureQueriesContext(connection) as queries:
            response = send(endpoint.path.format(**found), **(kwargs if endpoint.method != "GET" else {}))
        assert response.status_code < 300, (name, response.status_code, response.content[:300])
        found["statements"][name] = _statements(queries.captured_queries)
    print(json.dumps(found))


def _sample_body(name: str, found: dict, n: int) -> dict | None:
    """The body of the n-th sample request (a stage move or a new lead)."""
    if name == "stage":
        return {"stage_id": found["stages"][n % len(found["stages"])]}
    if name == "intake":
        return {"name": "Bench sample", "phone": f"+7949{time.time_ns() % 10**7:07d}", "message": "hi"}
    return None


def intake_base(db_url: str, tenant_id: int) -> int:
    """The number above the highest +795… phone in the tenant, where the next intake run starts."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        sql = "SELECT max(phone) FROM pipelines_lead WHERE tenant_id = %s AND phone LIKE '+795%%'"
        highest = conn.execute(sql, [tenant_id]).fetchone()[0]
    return int(highest[4:]) + 1 if highest else 1


# ---------------------------------------------------------------------------------------------------- the two servers


@dataclass
class Side:
    """One of the two servers: how to reach it and whose processes and PostgreSQL backends are its own."""

    name: str  # "product" or "floor"
    port: int
    process: subprocess.Popen

    def url(self, endpoint: Endpoint, ctx: dict) -> str:
        path = endpoint.path.format(**ctx)
        if self.name == "floor" and endpoint.method != "POST":
            path += ("&" if "?" in path else "?") + f"tenant_id={ctx['tenants'][endpoint.tenant]}"
        return f"http://127.0.0.1:{self.port}{path}"

    def backends(self, db_url: str) -> set[int]:
        with psycopg.connect(db_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND (application_name = %s) = %s",
                [FLOOR_APPLICATION_NAME, self.name == "floor"],
            ).fetchall()
        return {row[0] for row in rows}


def sides_start(args, logdir: Path) -> list[Side]:
    started = []
    commands = {
        "product": ([sys.executable, "-m", "gunicorn", "crm.wsgi", "-w", "2"], product_env(args)),
        "floor": (
            [sys.executable, "-m", "gunicorn", "floor_app:application", "-w", "2", "--chdir", str(BENCH)],
            floor_env(args),
        ),
    }
    try:
        for name, (command, env) in commands.items():
            port = harness.free_port()
            command = [*command, "-b", f"127.0.0.1:{port}"]
            log = logdir / f"{name}.log"
            process = harness.server_start(env, port=port, workers=2, log_path=log, timeout=60, command=command)
            started.append(Side(name, port, process))
    except BaseException:
        sides_stop(started)
        raise
    return started


def sides_stop(sides: list[Side]) -> None:
    for side in sides:
        with contextlib.suppress(ProcessLookupError):
            harness.server_stop(side.process)


def _headers(name: str, ctx: dict) -> dict[str, str]:
    """The caller's token (the webhook takes none) and the JSON content type."""
    headers = {"Content-Type": "application/json"}
    if name != "intake":
        headers["Authorization"] = f"Bearer {ctx['tokens'][ENDPOINTS[name].tenant]}"
    return headers


def request(side: Side, name: str, ctx: dict, n: int = 3) -> tuple[int, object]:
    endpoint = ENDPOINTS[name]
    url = side.url(endpoint, ctx).removeprefix(f"http://127.0.0.1:{side.port}")
    body = _sample_body(name, ctx, n)
    headers = _headers(name, ctx)
    conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=30)
    conn.request(endpoint.method, url, body=json.dumps(body) if body else None, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    try:
        return response.status, json.loads(payload)
    except ValueError:
        return response.status, payload[:300]


def parity_problem(product: Side, floor: Side, name: str, ctx: dict) -> str | None:
    """None when both answer the endpoint alike (status, row count, keys of the rows), else what differs."""
    endpoint = ENDPOINTS[name]
    answers = [request(side, name, ctx) for side in (product, floor)]
    if answers[0][0] != answers[1][0] or answers[0][0] >= 300:
        return (
            f"status product {answers[0][0]} / floor {answers[1][0]}: {answers[0][1]!r:.200} / {answers[1][1]!r:.200}"
        )
    shapes = []
    for _, body in answers:
        rows = body[endpoint.rows_key] if endpoint.rows_key else body
        rows = rows if isinstance(rows, list) else [rows]
        shapes.append((len(rows), sorted(rows[0]) if rows else []))
    return None if shapes[0] == shapes[1] else f"rows/keys product {shapes[0]} / floor {shapes[1]}"


# ---------------------------------------------------------------------------------------------------- one run


def wrk(args, url: str, seconds: int, headers: dict, script: str) -> str:
    command = ["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    for header, value in headers.items():
        command += ["-H", f"{header}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        command += ["-s", lua.name, url]
        return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(lua.name)


def wrk_script(args, side: Side, name: str, ctx: dict) -> str:
    endpoint = ENDPOINTS[name]
    if name == "stage":
        suffix = f"?tenant_id={ctx['tenants']['leads']}" if side.name == "floor" else ""
        ids, stages = ",".join(map(str, ctx["write_ids"])), ",".join(map(str, ctx["stages"]))
        return PATCH_LUA % {"ids": ids, "stages": stages, "suffix": suffix}
    if name == "intake":
        return INTAKE_LUA % {"base": intake_base(args.db_url, ctx["tenants"]["writes"]), "threads": 2}
    return f'wrk.method = "{endpoint.method}"\n'


def measure(args, side: Side, name: str, ctx: dict) -> dict:
    endpoint = ENDPOINTS[name]
    headers = _headers(name, ctx)
    url = side.url(endpoint, ctx)
    waited = time.monotonic()
    busy_before = wait_idle(args.idle_threshold, args.max_idle_wait)
    waited = time.monotonic() - waited
    wrk(args, url, args.warmup, headers, wrk_script(args, side, name, ctx))
    script = wrk_script(args, side, name, ctx)  # intake: phones above the warm-up's
    backends = side.backends(args.db_url)
    procs0, (busy0, total0) = process_cpu(), cpu_busy_jiffies()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = wrk(args, url, args.duration, headers, script)
    children1, (busy1, total1), procs1 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_busy_jiffies(), process_cpu()
    backends |= side.backends(args.db_url)
    served = sum(
        ticks - procs0.get(pid, (0, 0))[1]
        for pid, (session, ticks) in procs1.items()
        if session == side.process.pid or pid in backends
    )
    load = (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime) * HZ  # wrk
    result = parse_wrk(output)
    result.update(
        side=side.name,
        endpoint=name,
        busy_before=round(busy_before, 1),
        waited=round(waited, 1),
        foreign_cpu=round(max(0.0, 100.0 * (busy1 - busy0 - served - load) / max(1, total1 - total0)), 1),
        cpu_ms=round(1000.0 * served / HZ / max(1, result["requests"]), 2),
        backends=len(backends),
    )
    return result


def errors_explain(side: Side, name: str, ctx: dict, logdir: Path) -> None:
    """After a run with errors: one more request of the kind, and the server log's last error lines."""
    status, body = request(side, name, ctx, n=int(time.time()))
    print(f"  {side.name} {name}: a sample request now answers {status}: {body!r:.300}", file=sys.stderr)
    lines = (logdir / f"{side.name}.log").read_text(errors="replace").splitlines()
    for line in [line for line in lines if "Error" in line or "Traceback" in line][-5:]:
        print(f"  {side.name}.log: {line[:300]}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------- report


def _spread(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def _median(runs: list[dict], key: str, digits: int) -> str:
    values = [run[key] for run in runs if run[key] is not None]
    return f"{statistics.median(values):.{digits}f}" if values else "-"


def table(results: list[dict], ctx: dict, chosen: list[str]) -> str:
    lines = [
        "| endpoint | product req/s | floor req/s | × floor | p50 / p99 ms product | p50 / p99 ms floor "
        "| CPU ms/req product / floor | foreign CPU % | SQL statements | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in chosen:
        runs = {
            side: [run for run in results if run["endpoint"] == name and run["side"] == side]
            for side in ("product", "floor")
        }
        product, floor = runs["product"], runs["floor"]
        if not product or not floor:
            continue
        ratios = [p["rps"] / f["rps"] for p, f in zip(product, floor, strict=False) if f["rps"]]
        statements, commits = ctx["statements"][name]
        label = ENDPOINTS[name].label + (f" (floor: {FLOOR_NOTES[name]})" if name in FLOOR_NOTES else "")
        cells = [
            f"`{label}`",
            _spread([run["rps"] for run in product]),
            _spread([run["rps"] for run in floor]),
            _spread(ratios, 2),
            f"{_median(product, 'p50', 1)} / {_median(product, 'p99', 1)}",
            f"{_median(floor, 'p50', 1)} / {_median(floor, 'p99', 1)}",
            f"{_median(product, 'cpu_ms', 2)} / {_median(floor, 'cpu_ms', 2)}",
            _spread([run["foreign_cpu"] for run in product + floor]),
            f"{statements} ({commits} commit{'s' if commits != 1 else ''})",
            str(sum(run["errors"] for run in product + floor)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(args, results: list[dict], ctx: dict, chosen: list[str]) -> str:
    rounds = max((run["round"] for run in results), default=0)
    return "\n".join(
        [
            f"### The hot endpoints against the raw floor (`bench/floor_compare.py`, {time.strftime('%Y-%m-%d')})",
            "",
            "```",
            f".venv/bin/python bench/floor_compare.py --rounds {args.rounds} --duration {args.duration} --markdown"
            + (f" --only {args.only}" if args.only else ""),
            "```",
            f"Production layout `gunicorn crm.wsgi -w 2` (DEBUG=0, the settings' psycopg pool, Redis) against the raw "
            f"floor (bench/floor_app.py: one SQL statement for the same rows and columns + orjson, `gunicorn -w 2`) on "
            f"one database (bench/deals_data.py + bench/leads_data.py, 100,000 leads); wrk -t2 -c{args.connections}, "
            f"{args.warmup} s warm-up + {args.duration} s measured, {rounds} interleaved round(s); median (range) over "
            "rounds. CPU ms/req: the server's processes and its PostgreSQL backends. Foreign CPU: the rest of the box "
            "during the runs (Redis included). SQL statements: one request counted in-process.",
            "",
            table(results, ctx, chosen),
        ]
    )


# ---------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="the product's Redis (a db of its own)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ENDPOINTS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--idle-threshold", type=float, default=30.0, help="start a run below this %% busy")
    parser.add_argument("--max-idle-wait", type=float, default=20.0, help="seconds, per run")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 s runs, 1 s warm-up")
    parser.add_argument("--json", type=Path, help="write every run (and the context's counts) to this file")
    parser.add_argument("--markdown", action="store_true", help="also print a block ready for BENCHMARKS.md")
    parser.add_argument("--context", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.max_idle_wait = 1, 2, 1, 5.0
    unknown = set(filter(None, args.only.split(","))) - set(ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoints {sorted(unknown)}; choose from {','.join(ENDPOINTS)}")
    return args


def run_rounds(args, sides: list[Side], ctx: dict, chosen: list[str], logdir: Path) -> list[dict]:
    results = []
    for round_no in range(1, args.rounds + 1):
        # Alternating which side goes first spreads the drift of the box over both.
        order = sides if round_no % 2 else sides[::-1]
        for name in chosen:
            for side in order:
                run = measure(args, side, name, ctx) | {"round": round_no}
                results.append(run)
                print(
                    f"[r{round_no}] {name:<8} {side.name:<7} {run['rps']:8.1f} req/s  p50 {run['p50']} p99 "
                    f"{run['p99']} ms  CPU {run['cpu_ms']} ms/req  foreign {run['foreign_cpu']}%  "
                    f"errors {run['errors']}",
                    file=sys.stderr,
                )
                if run["errors"]:
                    errors_explain(side, name, ctx, logdir)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.context:
        context_print()
        return 0
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    chosen = [name for name in ENDPOINTS if not args.only or name in args.only.split(",")]
    started = time.monotonic()
    seed(args)
    ctx = context(args)
    logdir = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    print(f"setup done in {time.monotonic() - started:.0f} s; server logs in {logdir}", file=sys.stderr)

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    sides = sides_start(args, logdir)
    try:
        problems = {name: parity_problem(*sides, name, ctx) for name in chosen}
        if any(problems.values()):
            for name, problem in problems.items():
                if problem:
                    print(f"{name}: product and floor differ: {problem}", file=sys.stderr)
            return 1
        results = run_rounds(args, sides, ctx, chosen, logdir)
    finally:
        sides_stop(sides)
    print(table(results, ctx, chosen))
    if args.markdown:
        print("\n" + markdown(args, results, ctx, chosen))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {key: str(value) for key, value in vars(args).items() if key != "json"}
        args.json.write_text(json.dumps({"args": settings, "runs": results, "statements": ctx["statements"]}, indent=1))
    errors = sum(run["errors"] for run in results)
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are stopped by then (main's finally)
        sys.exit("interrupted")
