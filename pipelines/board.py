"""The pipeline board: an admin page per pipeline, a column per stage and a card per lead.

Dragging a card posts to `…/cards/<lead>/move/`, which calls `services.lead_move_to_stage`, the service behind
`PATCH /api/leads/{id}/stage`, so history and the `lead_updated` event are the same. The page listens to
`/api/events/stream` with the admin session and refetches a card (`…/cards/<lead>/`) on each lead event, then the
column headers (`…/summary/`: count and budget sum per stage, from the selector behind the API's pipeline summary).
Staff see their own tenant only: another tenant's pipeline, lead or stage is a 404.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm.admin_base import acting_user
from crm.api.exceptions import error_response
from crm.api.parsers import parse_json
from crm.charts import money
from crm.errors import ApplicationError, NotFound, ValidationFailed
from crm.tenancy import is_backoffice_manager, is_tenant_staff, sees_whole_tenant, tenant_users
from pipelines import services
from pipelines.filtersets import LeadFilterSet, lead_filters_parse
from pipelines.models import Lead, LeadSource, Pipeline, Stage
from pipelines.selectors import StageSummary, lead_table, pipeline_summary

# Cards shown per column (the most recently moved first); the column header counts them all.
PER_COLUMN = 50
# Board query parameters -> LeadFilterSet parameters (the same filters and search as GET /api/leads).
_FILTER_PARAMS = {"assignee": "assigned_to_user_id", "source": "source", "q": "search"}


@dataclass(frozen=True)
class Column:
    stage: Stage
    count: int
    price_total: Decimal
    cards: list[dict]

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)

    @property
    def price_total_text(self) -> str:
        return money(self.price_total)


def board_filters(params) -> dict[str, str]:
    """The board's filters from a query string, as LeadFilterSet data (empty values dropped)."""
    return {target: params[name].strip() for name, target in _FILTER_PARAMS.items() if params.get(name, "").strip()}


def _visible_leads(*, pipeline: Pipeline, user) -> QuerySet:
    """The leads of the pipeline's tenant the user may see: a manager's own (as in the API), all for staff."""
    if not sees_whole_tenant(user):
        return Lead.objects.visible_to(user)
    return Lead.objects.for_tenant(pipeline.tenant_id)


def _board_leads(*, pipeline: Pipeline, user) -> QuerySet:
    return _visible_leads(pipeline=pipeline, user=user).filter(pipeline=pipeline)


def _filtered_leads(*, pipeline: Pipeline, filters: dict, user):
    leads = _board_leads(pipeline=pipeline, user=user)
    filterset = LeadFilterSet(data=filters, queryset=leads, tenant_id=pipeline.tenant_id)
    if not filterset.is_valid():
        raise ValidationFailed(
            "Invalid filter.", details={name: list(errors) for name, errors in filterset.errors.items()}
        )
    return filterset.qs


def _stages(pipeline: Pipeline) -> list[Stage]:
    return list(Stage.objects.for_tenant(pipeline.tenant_id).filter(pipeline=pipeline).order_by("order_index", "id"))


def board_summary(*, pipeline: Pipeline, filters: dict, user) -> list[StageSummary]:
    """The column headers: leads and their budgets' sum per stage, over the cards the board shows (two queries)."""
    cleaned = lead_filters_parse(filters)
    return pipeline_summary(pipeline=pipeline, stages=_stages(pipeline), user=user, filters=cleaned)


def board_columns(*, pipeline: Pipeline, filters: dict, user) -> list[Column]:
    """Stages in board order with their lead counts, budget sums and up to PER_COLUMN cards each (five queries)."""
    stages = _stages(pipeline)
    leads = _filtered_leads(pipeline=pipeline, filters=filters, user=user)
    summaries = pipeline_summary(pipeline=pipeline, stages=stages, user=user, filters=lead_filters_parse(filters))
    shown = Lead.objects.for_tenant(pipeline.tenant_id).filter(pk__in=_newest_per_stage(leads, stages))
    rows = lead_table(
        leads=shown, filters={}, ordering="-moved_to_stage_at", limit=max(len(stages), 1) * PER_COLUMN
    ).rows
    by_stage: dict[int, list[dict]] = {}
    for row in rows:
        by_stage.setdefault(row["stage_id"], []).append(row)
    return [
        Column(stage=stage, count=summary.leads, price_total=summary.price_total, cards=by_stage.get(stage.pk, []))
        for stage, summary in zip(stages, summaries, strict=True)
    ]


def _newest_per_stage(leads: QuerySet, stages: list[Stage]) -> QuerySet:
    """The ids of each stage's PER_COLUMN newest leads (by the time they came into it)."""
    if not stages:
        return leads.none().values("pk")
    if connection.features.supports_slicing_ordering_in_compound:
        # One LIMIT per column (UNION ALL), each read from an index; the window below sorts every lead of the
        # pipeline (435 ms at 90,000 leads on PostgreSQL).
        newest = [
            leads.filter(stage_id=stage.pk).order_by("-moved_to_stage_at", "-pk").values("pk")[:PER_COLUMN]
            for stage in stages
        ]
        return newest[0].union(*newest[1:], all=True)
    newest_first = [F("moved_to_stage_at").desc(), F("pk").desc()]  # SQLite: no LIMIT inside a UNION
    ranked = leads.annotate(rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=newest_first))
    return ranked.filter(rank__lte=PER_COLUMN).values("pk")


def board_card(*, pipeline: Pipeline, lead: Lead, filters: dict, user) -> dict | None:
    """The card row of one lead as the board shows it, or None when it is not on this board with these filters."""
    leads = _filtered_leads(pipeline=pipeline, filters=filters, user=user).filter(pk=lead.pk)
    rows = lead_table(leads=leads, filters={}, limit=1).rows
    return rows[0] if rows else None


# ---------------------------------------------------------------- views


def _boards(request) -> QuerySet:
    user = request.user
    if user.is_superuser:
        return Pipeline.objects.unscoped()  # a platform superuser opens any tenant's board
    if is_tenant_staff(user) or is_backoffice_manager(user):
        # Managers read every pipeline of their tenant; the board shows them their own leads only.
        return Pipeline.objects.for_tenant(user.tenant_id)
    raise PermissionDenied


def _scoped_pipeline(request, pipeline_id: int) -> Pipeline:
    return get_object_or_404(_boards(request).select_related("tenant"), pk=pipeline_id)


@require_GET
def default_board_view(request):
    """The board of the default pipeline (the first one for a superuser): the back-office's "Доска" link."""
    pipeline = _boards(request).order_by("-is_default", "id").first()
    if pipeline is None:
        raise Http404("No pipeline.")
    return HttpResponseRedirect(reverse("admin:pipelines_pipeline_board", args=[pipeline.pk]))


def _card_html(row: dict) -> str:
    price = money(row["price"]) if row["price"] is not None else None
    context = {"card": row, "source": LeadSource(row["source"]).label, "price": price, "now": timezone.now()}
    # No request: the card needs no context processors, which would run once per card (250 on a board).
    return render_to_string("pipelines/board_card.html", context)


def _card_payload(request, pipeline: Pipeline, lead: Lead, filters: dict) -> dict:
    row = board_card(pipeline=pipeline, lead=lead, filters=filters, user=request.user)
    return {
        "lead_id": lead.pk,
        "stage_id": row["stage_id"] if row else None,
        "html": _card_html(row) if row else None,
    }


def _error(exc: ApplicationError) -> JsonResponse:
    return error_response(exc.code, exc.message, status=exc.status, details=exc.details)


def _lead_of(request, pipeline: Pipeline, lead_id: int) -> Lead:
    # A colleague's lead is not on a manager's board: 404, as for a lead of another tenant.
    lead = _visible_leads(pipeline=pipeline, user=request.user).filter(pk=lead_id).first()
    if lead is None:
        raise NotFound(f"Lead {lead_id} not found.")
    return lead


@require_GET
def board_view(request, pipeline_id: int, *, site):
    pipeline = _scoped_pipeline(request, pipeline_id)
    tenant = pipeline.tenant
    filters = board_filters(request.GET)
    with timezone.override(tenant.tzinfo):
        try:
            columns = board_columns(pipeline=pipeline, filters=filters, user=request.user)
            filter_error = None
        except ValidationFailed as exc:
            columns = board_columns(pipeline=pipeline, filters={}, user=request.user)
            filter_error = exc.message
        for column in columns:
            for card in column.cards:
                card["html"] = _card_html(card)
        context = {
            **site.each_context(request),
            # The columns need the width more than the app list does.
            "is_nav_sidebar_enabled": False,
            "title": _("Доска «%(pipeline)s»") % {"pipeline": pipeline.name},
            "pipeline": pipeline,
            "pipelines": Pipeline.objects.for_tenant(tenant).order_by("-is_default", "id"),
            "columns": columns,
            "assignees": tenant_users(tenant).filter(is_active=True).order_by("full_name", "username"),
            "sources": LeadSource.choices,
            "params": {name: request.GET.get(name, "") for name in _FILTER_PARAMS},
            "query": request.GET.urlencode() if not filter_error else "",
            "filter_error": filter_error,
            "per_column": PER_COLUMN,
            "card_url": reverse("admin:pipelines_pipeline_board_card", args=[pipeline.pk, 0]),
            "summary_url": reverse("admin:pipelines_pipeline_board_summary", args=[pipeline.pk]),
            "stream_url": reverse("events-stream"),
            "lead_changelist": reverse("admin:pipelines_lead_changelist"),
        }
        return TemplateResponse(request, "pipelines/board.html", context).render()


@require_GET
def board_card_view(request, pipeline_id: int, lead_id: int):
    pipeline = _scoped_pipeline(request, pipeline_id)
    with timezone.override(pipeline.tenant.tzinfo):
        try:
            lead = _lead_of(request, pipeline, lead_id)
            return JsonResponse(_card_payload(request, pipeline, lead, board_filters(request.GET)))
        except ApplicationError as exc:
            return _error(exc)


@require_GET
def board_summary_view(request, pipeline_id: int):
    """The column headers as the board's filters see them: `{"columns": [{"stage_id", "leads", "price_total",
    "price_total_text"}]}`, refetched by the page after a card changes."""
    pipeline = _scoped_pipeline(request, pipeline_id)
    try:
        summaries = board_summary(pipeline=pipeline, filters=board_filters(request.GET), user=request.user)
    except ApplicationError as exc:
        return _error(exc)
    columns = [
        {
            "stage_id": summary.stage_id,
            "leads": summary.leads,
            "price_total": float(summary.price_total),
            "price_total_text": money(summary.price_total),
        }
        for summary in summaries
    ]
    return JsonResponse({"columns": columns})


@require_POST
def board_move_view(request, pipeline_id: int, lead_id: int):
    """Move a card: `{"stage_id": N}` (JSON) -> the fresh card, or the error envelope (the page snaps the card back)."""
    pipeline = _scoped_pipeline(request, pipeline_id)
    with timezone.override(pipeline.tenant.tzinfo):
        try:
            lead = _lead_of(request, pipeline, lead_id)
            stage = _stage_from_body(request, pipeline)
            lead = services.lead_move_to_stage(lead=lead, stage=stage, acting_user=acting_user(request))
            return JsonResponse(_card_payload(request, pipeline, lead, board_filters(request.GET)))
        except ApplicationError as exc:
            return _error(exc)


def _stage_from_body(request, pipeline: Pipeline) -> Stage:
    body = parse_json(request.body or b"{}")
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.")
    stage_id = body.get("stage_id")
    if not isinstance(stage_id, int) or isinstance(stage_id, bool):
        raise ValidationFailed.for_field("stage_id", "A stage id (an integer) is required.")
    stage = Stage.objects.for_tenant(pipeline.tenant_id).filter(pk=stage_id).first()
    if stage is None:
        raise ValidationFailed.for_field("stage_id", "No stage with this id in your tenant.")
    return stage


def admin_urls(site) -> list:
    """The board's admin URLs (listed in settings.BACKOFFICE_URLS)."""
    return [
        path("pipelines/board/", site.admin_view(default_board_view), name="pipelines_default_board"),
        path(
            "pipelines/pipeline/<int:pipeline_id>/board/",
            site.admin_view(partial(board_view, site=site)),
            name="pipelines_pipeline_board",
        ),
        path(
            "pipelines/pipeline/<int:pipeline_id>/board/summary/",
            site.admin_view(board_summary_view),
            name="pipelines_pipeline_board_summary",
        ),
        path(
            "pipelines/pipeline/<int:pipeline_id>/board/cards/<int:lead_id>/",
            site.admin_view(board_card_view),
            name="pipelines_pipeline_board_card",
        ),
        path(
            "pipelines/pipeline/<int:pipeline_id>/board/cards/<int:lead_id>/move/",
            site.admin_view(board_move_view),
            name="pipelines_pipeline_board_move",
        ),
    ]
