"""`manage.py run_worker` as real processes: on Redis and PostgreSQL (production, several workers) and on a SQLite
queue without Redis (the laptop)."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from django_eventstream.models import Event
from huey.contrib.djhuey import HUEY

from crm.tests.live import ROOT, wait_until
from events.jobs import trim_event_log
from events.tests.conftest import emit
from jobs.jobs import ping

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(
        transaction=True,
        available_apps=["crm", "events", "django_eventstream", "django.contrib.auth", "django.contrib.contenttypes"],
    ),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs a shared PostgreSQL"),
]

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="REDIS_URL is not set")


def worker_env(**overrides) -> dict[str, str]:
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL or "",
        **overrides,
    }


@pytest.fixture
def start_worker():
    """Start `manage.py run_worker` processes; all stopped (SIGTERM, then SIGKILL) after the test."""
    processes = []

    def start(env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "run_worker", "--workers", "2", "--no-periodic"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def empty_queue():
    HUEY.flush()  # jobs other tests enqueued without a worker
    yield
    HUEY.flush()


@needs_redis
def test_a_worker_on_redis_and_postgresql_runs_the_retention_job(owner, start_worker, empty_queue):
    emit("lead_created", owner.tenant_id, 1)
    emit("lead_updated", owner.tenant_id, 1)
    Event.objects.filter(eid__lte=1).update(created=timezone.now() - timedelta(hours=25))  # position 0 and 1
    start_worker(worker_env())

    trim_event_log()  # what the schedule enqueues every ten minutes (a periodic job's result is not kept)

    def remaining():
        return list(Event.objects.values_list("channel", "eid", "type"))

    assert wait_until(lambda: len(remaining()) == 1, timeout=60)
    assert remaining() == [(f"tenant-{owner.tenant_id}", 2, "lead_updated")]


@needs_redis
def test_several_workers_share_one_queue(start_worker, empty_queue):
    workers = {start_worker(worker_env()).pid, start_worker(worker_env()).pid}
    answered = set()

    def both_answered():
        answered.add(ping().get(blocking=True, timeout=60)["pid"])
        return answered == workers

    assert wait_until(both_answered, timeout=60), f"answers from {answered}, workers {workers}"


def test_on_the_laptop_a_worker_runs_jobs_from_a_sqlite_queue_without_redis(start_worker, tmp_path):
    env = worker_env(REDIS_URL="", JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite3"))
    worker = start_worker(env)

    script = "import json; from jobs.jobs import ping; print(json.dumps(ping().get(blocking=True, timeout=60)))"
    answer = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )

    assert json.loads(answer.stdout)["pid"] == worker.pid
