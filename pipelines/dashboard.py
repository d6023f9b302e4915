"""Dashboard panels of the pipelines app: the funnel of a pipeline (won and lost apart), why its leads were lost, and
new leads per source per week.

Selectors here are aggregate queries (one query each, whatever the number of leads); panels turn them into charts.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce, TruncWeek
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.charts import PALETTE, Bar, Series, column_chart, hbar_chart, number
from crm.dashboard import Panel
from pipelines.models import HistoryKind, Lead, LeadHistory, LeadSource, Pipeline, Stage, StageOutcome

SOURCE_WEEKS = 12


@dataclass(frozen=True)
class FunnelStage:
    stage: Stage
    current: int
    reached: int


def pipeline_funnel(*, pipeline: Pipeline) -> list[FunnelStage]:
    """Each stage of the pipeline with the leads in it now and the leads that ever reached it (one query).

    «Reached» counts distinct leads whose history entered the stage (created there or moved there).
    """
    current = Lead.objects.filter(stage=OuterRef("pk")).order_by().values("stage").annotate(n=Count("pk")).values("n")
    reached = (
        LeadHistory.objects.filter(to_stage=OuterRef("pk"), kind__in=[HistoryKind.CREATED, HistoryKind.STAGE_CHANGED])
        .order_by()
        .values("to_stage")
        .annotate(n=Count("lead", distinct=True))
        .values("n")
    )
    stages = (
        Stage.objects.for_tenant(pipeline.tenant_id)
        .filter(pipeline=pipeline)
        .order_by("order_index", "id")
        .annotate(
            current=Coalesce(Subquery(current, output_field=IntegerField()), 0),
            reached=Coalesce(Subquery(reached, output_field=IntegerField()), 0),
        )
    )
    # Rows made without history (imports of old data, fixtures) still count as having reached their stage.
    return [FunnelStage(stage=s, current=s.current, reached=max(s.reached, s.current)) for s in stages]


def lost_by_reason(*, pipeline: Pipeline) -> list[tuple[str | None, int]]:
    """The leads in the pipeline's lost stages per loss reason (None: no reason named), most first (one query)."""
    rows = (
        Lead.objects.for_tenant(pipeline.tenant_id)
        .filter(pipeline=pipeline, stage__outcome=StageOutcome.LOST)
        .order_by()
        .values("loss_reason__name")
        .annotate(n=Count("pk"))
    )
    counted = [(row["loss_reason__name"], row["n"]) for row in rows]
    return sorted(counted, key=lambda item: (-item[1], item[0] is None, item[0] or ""))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def leads_per_source_per_week(*, tenant, weeks: int = SOURCE_WEEKS) -> tuple[list[date], dict[str, list[int]]]:
    """New leads per source for the last `weeks` calendar weeks (Monday-based, tenant's wall clock), one query."""
    tz = tenant.tzinfo
    first = week_start(timezone.localdate(timezone=tz)) - timedelta(weeks=weeks - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    rows = (
        Lead.objects.for_tenant(tenant)
        .filter(created_at__gte=start)
        .annotate(week=TruncWeek("created_at", tzinfo=tz))
        .order_by()
        .values("week", "source")
        .annotate(n=Count("pk"))
    )
    weeks_list = [first + timedelta(weeks=i) for i in range(weeks)]
    index = {day: i for i, day in enumerate(weeks_list)}
    counts = {source: [0] * weeks for source in LeadSource.values}
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        if week in index and row["source"] in counts:
            counts[row["source"]][index[week]] += row["n"]
    return weeks_list, counts


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


def _chosen_pipeline(request, tenant) -> tuple[Pipeline | None, list[Pipeline]]:
    pipelines = list(Pipeline.objects.for_tenant(tenant).order_by("-is_default", "id"))
    wanted = request.GET.get("pipeline", "")
    chosen = next((p for p in pipelines if str(p.pk) == wanted), pipelines[0] if pipelines else None)
    return chosen, pipelines


def _pipeline_choice(request, tenant, pipeline: Pipeline, pipelines: list[Pipeline]):
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((p.pk, " selected" if p.pk == pipeline.pk else "", p.name) for p in pipelines),
    )
    return format_html(
        '<form method="get"><label>{} <select name="pipeline" onchange="this.form.submit()">{}</select></label>'
        "{}</form>",
        _("Воронка:"),
        options,
        format_html('<input type="hidden" name="tenant" value="{}">', tenant.pk) if request.user.is_superuser else "",
    )


def _funnel_rows(funnel: list[FunnelStage], entered: int) -> list[tuple]:
    """The steps of the way (open, plainly closed and won stages) with the conversion from the step before; lost
    stages are not a step: they show their share of the entered leads only."""
    rows = []
    previous = None
    for item in funnel:
        lost = item.stage.outcome == StageOutcome.LOST
        step = "—" if lost or previous is None else _percent(item.reached, previous)
        name = _("%(stage)s (отказ)") % {"stage": item.stage.name} if lost else item.stage.name
        rows.append((name, number(item.current), number(item.reached), _percent(item.reached, entered), step))
        previous = previous if lost else item.reached
    return rows


def funnel_panel(*, request, tenant) -> Panel:
    pipeline, pipelines = _chosen_pipeline(request, tenant)
    title = _("Воронка «%(pipeline)s»") % {"pipeline": pipeline.name} if pipeline else _("Воронка")
    if pipeline is None:
        return Panel(title=title, chart=hbar_chart([], title=title))
    funnel = pipeline_funnel(pipeline=pipeline)
    # Won is the way's last step; lost leads left the way, so they are listed apart, after it.
    funnel = sorted(funnel, key=lambda item: item.stage.outcome == StageOutcome.LOST)
    entered = funnel[0].reached if funnel else 0
    bars = [
        Bar(
            label=item.stage.name,
            value=item.reached,
            note=_("%(share)s · сейчас %(now)s")
            % {"share": _percent(item.reached, entered), "now": number(item.current)}
            + (_(" · отказ") if item.stage.outcome == StageOutcome.LOST else ""),
            color=item.stage.color or PALETTE[0],
        )
        for item in funnel
    ]
    return Panel(
        title=title,
        chart=hbar_chart(bars, title=title),
        table_head=(_("Стадия"), _("Сейчас"), _("Дошли"), _("Конверсия от входа"), _("От предыдущей")),
        table_rows=_funnel_rows(funnel, entered),
        links=((_("Открыть доску"), reverse("admin:pipelines_pipeline_board", args=[pipeline.pk])),),
        controls=_pipeline_choice(request, tenant, pipeline, pipelines),
    )


def loss_reasons_panel(*, request, tenant) -> Panel:
    pipeline = _chosen_pipeline(request, tenant)[0]
    if pipeline:
        title = _("Причины отказов, воронка «%(pipeline)s»") % {"pipeline": pipeline.name}
    else:
        title = _("Причины отказов")
    counted = lost_by_reason(pipeline=pipeline) if pipeline else []
    total = sum(n for _, n in counted)
    bars = [
        Bar(label=name or _("Причина не указана"), value=n, note=_percent(n, total), color=PALETTE[i % len(PALETTE)])
        for i, (name, n) in enumerate(counted)
    ]
    return Panel(
        title=title,
        chart=hbar_chart(bars, title=title),
        table_head=(_("Причина"), _("Лидов"), _("Доля")),
        table_rows=[(bar.label, number(bar.value), bar.note) for bar in bars],
    )


def sources_panel(*, request, tenant) -> Panel:
    title = ngettext(
        "Новые лиды по источникам, %(weeks)s неделя", "Новые лиды по источникам, %(weeks)s недель", SOURCE_WEEKS
    ) % {"weeks": SOURCE_WEEKS}
    weeks, counts = leads_per_source_per_week(tenant=tenant)
    labels = {source: str(label) for source, label in LeadSource.choices}
    series = [
        Series(name=labels[source], values=values, color=PALETTE[i % len(PALETTE)])
        for i, (source, values) in enumerate(counts.items())
    ]
    categories = [day.strftime("%d.%m") for day in weeks]
    chart = column_chart(categories, series, title=title, stacked=True) if any(map(any, counts.values())) else None
    rows = [(day.strftime("%d.%m.%Y"), *(number(counts[s][i]) for s in counts)) for i, day in enumerate(weeks)]
    return Panel(
        title=title,
        chart=chart or hbar_chart([], title=title),
        table_head=(_("Неделя с"), *(labels[s] for s in counts)),
        table_rows=rows,
    )
