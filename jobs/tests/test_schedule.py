"""The schedule the worker runs (its consumer enqueues periodic jobs at the minutes their crontab names)."""

from datetime import datetime

from huey.contrib.djhuey import HUEY

from events.jobs import trim_event_log


def test_the_event_log_is_trimmed_every_ten_minutes():
    assert trim_event_log.task_class().validate_datetime(datetime(2026, 1, 1, 3, 0))
    assert trim_event_log.task_class().validate_datetime(datetime(2026, 1, 1, 3, 50))
    assert not trim_event_log.task_class().validate_datetime(datetime(2026, 1, 1, 3, 55))
    assert trim_event_log.task_class in HUEY._registry._periodic_tasks
