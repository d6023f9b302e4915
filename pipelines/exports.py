"""Export of the lead changelist (CSV/XLSX, streamed) for the back-office; see crm.exports."""

from crm.exports import Column, ExportSpec, export_urls
from pipelines.models import Lead

LEAD_EXPORT = ExportSpec(
    model=Lead,
    filename="leads",
    select_related=("pipeline", "stage", "assigned_to"),
    columns=(
        Column("ID", lambda lead: lead.pk),
        Column("Имя", lambda lead: lead.name),
        Column("Телефон", lambda lead: lead.phone),
        Column("Email", lambda lead: lead.email),
        Column("Источник", lambda lead: lead.get_source_display()),
        Column("Воронка", lambda lead: lead.pipeline.name),
        Column("Стадия", lambda lead: lead.stage.name),
        Column("Ответственный", lambda lead: lead.assigned_to.display_name if lead.assigned_to else ""),
        # A number, so that a spreadsheet sums it (the import reads it back, «1 250 000,50 ₽» too).
        Column("Бюджет", lambda lead: float(lead.price) if lead.price is not None else None),
        Column("Комментарий", lambda lead: lead.comment),
        Column("Создан", lambda lead: lead.created_at),
        Column("В стадии с", lambda lead: lead.moved_to_stage_at),
    ),
)


def admin_urls(site) -> list:
    return export_urls(site, LEAD_EXPORT)
