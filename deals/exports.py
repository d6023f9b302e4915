"""Exports of the client and deal changelists (CSV/XLSX, streamed) for the back-office; see crm.exports."""

from crm.exports import Column, ExportSpec, export_urls
from deals.models import Client, ContactType, Deal


def contact_value(client: Client, contact_type: str) -> str:
    """The primary contact of a type (or the first one), as the export's phone/email column."""
    contacts = [c for c in client.contacts or [] if c.get("type") == contact_type]
    primary = next((c for c in contacts if c.get("is_primary")), contacts[0] if contacts else None)
    return primary["value"] if primary else ""


def _person(user) -> str:
    return user.display_name if user else ""


CLIENT_EXPORT = ExportSpec(
    model=Client,
    filename="clients",
    columns=(
        Column("ID", lambda client: client.pk),
        Column("Тип", lambda client: client.get_type_display()),
        Column("Полное наименование", lambda client: client.full_name),
        Column("Краткое наименование", lambda client: client.short_name),
        Column("ИНН", lambda client: client.tax_number),
        Column("ОГРН", lambda client: client.registration_number),
        Column("Сегмент", lambda client: client.segment),
        Column("Статус", lambda client: client.get_status_display()),
        Column("Телефон", lambda client: contact_value(client, ContactType.PHONE)),
        Column("Email", lambda client: contact_value(client, ContactType.EMAIL)),
        Column("Заметки", lambda client: client.notes),
        Column("Создан", lambda client: client.created_at),
    ),
)

DEAL_EXPORT = ExportSpec(
    model=Deal,
    filename="deals",
    select_related=("client", "sales_agent", "executor"),
    columns=(
        Column("ID", lambda deal: deal.pk),
        Column("Название", lambda deal: deal.title),
        Column("Клиент", lambda deal: str(deal.client)),
        Column("ИНН клиента", lambda deal: deal.client.tax_number),
        Column("Статус", lambda deal: deal.get_status_display()),
        Column("Агент", lambda deal: _person(deal.sales_agent)),
        Column("Исполнитель", lambda deal: _person(deal.executor)),
        Column("Ожидаемое закрытие", lambda deal: deal.expected_close_date),
        Column("Теги", lambda deal: ", ".join(map(str, deal.tags or []))),
        Column("Создана", lambda deal: deal.created_at),
    ),
)


def admin_urls(site) -> list:
    return export_urls(site, CLIENT_EXPORT) + export_urls(site, DEAL_EXPORT)
