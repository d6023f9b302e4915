"""Demo tasks on the demo leads: some overdue, some due today, some later this week, a few done."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from pipelines.models import Lead
from tasks.models import TaskStatus, TaskType
from tasks.selectors import day_start
from tasks.services import task_create, task_update

# (days from today, wall-clock time or None for "a bit later than now", type, note, finished)
_PLAN = [
    (-2, time(11, 0), TaskType.CALL, "Перезвонить: клиент просил связаться после обеда", False),
    (-1, time(16, 30), TaskType.MEETING, "Встреча в офисе: показать тарифы", False),
    (0, None, TaskType.CALL, "Уточнить бюджет и сроки", False),
    (0, None, TaskType.NOTE, "Отправить КП на почту", False),
    (2, time(10, 0), TaskType.CALL, "Напомнить о пробном периоде", False),
    (4, time(15, 0), TaskType.MEETING, "Демо продукта для отдела продаж", False),
    (-3, time(12, 0), TaskType.CALL, "Первый звонок", True),
]


def demo_tasks_create(*, demo) -> None:
    """Spread the plan over the demo leads (created by the pipelines hook, which runs first)."""
    tz = demo.tenant.tzinfo
    now = timezone.now()
    today = timezone.localtime(now, tz).date()
    # Halfway between now and midnight: still today on the tenant's clock, and not yet overdue.
    later_today = (now + (day_start(today + timedelta(days=1), tz) - now) / 2).replace(microsecond=0)
    leads = list(Lead.objects.for_tenant(demo.tenant).select_related("assigned_to").order_by("id"))
    if not leads:
        return
    for index, (days, at, task_type, note, finished) in enumerate(_PLAN * 2):
        lead = leads[index % len(leads)]
        author = lead.assigned_to or demo.owner
        due_at = later_today if at is None else datetime.combine(today + timedelta(days=days), at, tzinfo=tz)
        task = task_create(lead=lead, acting_user=author, type=task_type, due_at=due_at, note=note, assigned_to=author)
        if finished:
            task_update(task=task, acting_user=author, status=TaskStatus.DONE)
