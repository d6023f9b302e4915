"""The fixed cost of an authenticated API request, in one process, beside its floor.

    .venv/bin/python bench/deals_data.py                     # once: the database this reads
    .venv/bin/python bench/auth_cost.py                      # figures
    .venv/bin/python bench/auth_cost.py --profile            # and where the time goes (cProfile, top functions)
    .venv/bin/python bench/auth_cost.py --redis-url redis://127.0.0.1:6379/9    # throttling on Redis, as deployed

`GET /api/auth/me` is called through Django's WSGI handler (every middleware, DRF, JWT auth, the user and tenant
read, throttling, the serializer, the renderer), with no HTTP server, so what it measures is the framework's own
cost per request. The floor, measured in the same run and interleaved call by call: decode the same JWT with PyJWT,
read the same user row with one SQL statement, dump it with orjson. Both sides read the same database; the figures are
the median wall time and the mean CPU time of this process per call (the SQL statements' server side is not in it).
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

import deals_data  # a sibling script: the bench database and the Django set-up

FLOOR_SQL = """SELECT u.id, u.uuid, u.username, u.email, u.tenant_id, u.role, u.full_name, u.token_version
FROM crm_user u JOIN crm_tenant t ON t.id = u.tenant_id WHERE u.id = %s AND u.is_active"""


def _request(handler, token: str):
    def start_response(status, headers, exc_info=None):
        start_response.status = status

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/auth/me",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    response = handler(environ, start_response)
    body = b"".join(response)
    response.close()
    if not start_response.status.startswith("200"):
        raise SystemExit(f"/api/auth/me answered {start_response.status}: {body[:200]!r}")
    return body


def _floor(connection, key: str, algorithm: str, token: str):
    import jwt
    import orjson

    claims = jwt.decode(token, key, algorithms=[algorithm])
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, [int(claims["user_id"])])
        columns = [column.name for column in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
    row["uuid"] = str(row["uuid"])
    return orjson.dumps(row)


def _timed(call, count: int) -> tuple[list[float], float]:
    walls = []
    cpu_started = time.process_time()
    for _ in range(count):
        started = time.perf_counter()
        call()
        walls.append(time.perf_counter() - started)
    return walls, (time.process_time() - cpu_started) / count


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=deals_data.DEFAULT_DB_URL)
    parser.add_argument("--redis-url", default="", help="throttling counters in Redis (default: local memory)")
    parser.add_argument("--requests", type=int, default=3000, help="per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    deals_data.django_setup(args.db_url)
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from crm.models import Role, User
    from crm.tokens import issue_token_pair

    handler = get_wsgi_application()
    owner = User.objects.get(tenant__slug=deals_data.SLUG, role=Role.OWNER)
    token = issue_token_pair(owner)["access"]
    key, algorithm = settings.SIMPLE_JWT["SIGNING_KEY"], settings.SIMPLE_JWT["ALGORITHM"]

    def product():
        return _request(handler, token)

    def floor():
        return _floor(connection, key, algorithm, token)

    for call in (product, floor):  # warm-up: connections, caches, imports
        _timed(call, 200)

    results = {"product": ([], []), "floor": ([], [])}
    for _ in range(args.rounds):
        for name, call in (("product", product), ("floor", floor)):
            walls, cpu = _timed(call, args.requests)
            results[name][0].extend(walls)
            results[name][1].append(cpu)
    print(f"GET /api/auth/me in-process, {args.rounds} rounds × {args.requests} calls per side, interleaved by round")
    print(f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/call':>12}")
    for name, (walls, cpus) in results.items():
        walls.sort()
        p99 = walls[int(len(walls) * 0.99)]
        print(f"{name:10} {statistics.median(walls) * 1e3:8.3f} {p99 * 1e3:8.3f} {statistics.mean(cpus) * 1e3:12.3f}")
    product_cpu, floor_cpu = (statistics.mean(results[name][1]) for name in ("product", "floor"))
    print(f"× floor (CPU): {floor_cpu / product_cpu:.2f}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: _timed(product, args.requests))
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
