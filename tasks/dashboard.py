"""Dashboard panel of the tasks app: overdue and today's open lead tasks per manager (one aggregate query)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils.translation import gettext as _

from crm.charts import Series, column_chart, hbar_chart, number
from crm.dashboard import Panel, admin_link
from tasks.models import DueBucket, LeadTask, TaskStatus
from tasks.selectors import due_bucket_q


@dataclass(frozen=True)
class AssigneeLoad:
    user_id: int
    name: str
    overdue: int
    today: int
    open: int


def open_tasks_per_assignee(*, tenant, now: datetime | None = None) -> list[AssigneeLoad]:
    """Open tasks per assignee: overdue, due today (tenant's wall clock) and all open; the busiest first."""
    tz = tenant.tzinfo
    rows = (
        LeadTask.objects.for_tenant(tenant)
        .filter(status=TaskStatus.OPEN)
        .order_by()
        .values("assigned_to", "assigned_to__full_name", "assigned_to__username")
        .annotate(
            overdue=Count("pk", filter=due_bucket_q(DueBucket.OVERDUE, tz=tz, now=now)),
            today=Count("pk", filter=due_bucket_q(DueBucket.TODAY, tz=tz, now=now)),
            open=Count("pk"),
        )
        .order_by("-overdue", "-today", "assigned_to__username")
    )
    return [
        AssigneeLoad(
            user_id=row["assigned_to"],
            name=row["assigned_to__full_name"] or row["assigned_to__username"],
            overdue=row["overdue"],
            today=row["today"],
            open=row["open"],
        )
        for row in rows
    ]


def tasks_panel(*, request, tenant) -> Panel:
    title = _("Задачи менеджеров: просрочено и на сегодня")
    loads = [load for load in open_tasks_per_assignee(tenant=tenant) if load.overdue or load.today]
    chart = (
        column_chart(
            [load.name for load in loads],
            [
                Series(name=_("Просрочено"), values=[load.overdue for load in loads], color="#c2410c"),
                Series(name=_("На сегодня"), values=[load.today for load in loads], color="#f0a202"),
            ],
            title=title,
        )
        if loads
        else hbar_chart([], title=title)
    )
    return Panel(
        title=title,
        chart=chart,
        table_head=(_("Менеджер"), _("Просрочено"), _("На сегодня"), _("Всего открытых")),
        table_rows=[(load.name, number(load.overdue), number(load.today), number(load.open)) for load in loads],
        links=admin_link(_("Просроченные задачи"), "admin:tasks_leadtask_changelist", "?due=overdue")
        + admin_link(_("Задачи на сегодня"), "admin:tasks_leadtask_changelist", "?due=today"),
    )
