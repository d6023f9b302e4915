"""Import of clients from CSV/XLSX in the back-office: every row through `services.client_create` (see crm.imports).

A row whose tax number (ИНН) the tenant already has is a duplicate: reported in the preview, never created twice.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.errors import ValidationFailed
from crm.i18n import stored
from crm.imports import DuplicateRow, ImportColumn, ImportSpec, import_urls
from deals import services
from deals.errors import ClientExists
from deals.models import Client, ClientStatus, ClientType, ContactType


def _choice(choices, text: str, *, default: str, field: str) -> str:
    if not text:
        return default
    # A file holds a choice's value or its Russian label, whatever the admin's language.
    lookup = {key.lower(): value for value, label in choices for key in (value, stored(label))}
    try:
        return lookup[text.lower()]
    except KeyError:
        options = ", ".join(stored(label) for _, label in choices)
        raise ValidationFailed.for_field(
            field, _("«%(value)s»: одно из %(options)s.") % {"value": text, "options": options}
        ) from None


def client_import_row(*, tenant, acting_user, values: dict[str, str]) -> str:
    """Create one client through the service; a known tax number is a duplicate, not a second client."""
    tax_number = values.get("tax_number", "").replace(" ", "")
    if tax_number:
        duplicate = Client.objects.for_tenant(tenant).filter(tax_number=tax_number).first()
        if duplicate is not None:
            raise DuplicateRow(
                _("Уже есть клиент «%(client)s» с ИНН %(tax_number)s.")
                % {"client": duplicate, "tax_number": tax_number}
            )
    contacts = [
        {"type": contact_type, "value": values[key], "is_primary": True}
        for key, contact_type in (("phone", ContactType.PHONE), ("email", ContactType.EMAIL))
        if values.get(key)
    ]
    try:
        client = services.client_create(
            tenant=tenant,
            type=_choice(ClientType.choices, values.get("type", ""), default=ClientType.COMPANY, field="Тип"),
            full_name=values.get("full_name", ""),
            short_name=values.get("short_name", ""),
            tax_number=tax_number,
            registration_number=values.get("registration_number", ""),
            segment=values.get("segment", ""),
            status=_choice(
                ClientStatus.choices, values.get("status", ""), default=ClientStatus.POTENTIAL, field="Статус"
            ),
            contacts=contacts,
            notes=values.get("notes", ""),
        )
    except ClientExists as exc:
        # Another request created it between our check and the insert.
        raise DuplicateRow(exc.message) from exc
    if client.tax_number:
        return _("«%(client)s», ИНН %(tax_number)s") % {"client": client, "tax_number": client.tax_number}
    return f"«{client}»"


CLIENT_IMPORT = ImportSpec(
    model=Client,
    title=gettext_lazy("Импорт клиентов"),
    import_row=client_import_row,
    columns=(
        ImportColumn("full_name", ("Полное наименование", "Наименование", "ФИО"), required=True),
        ImportColumn("short_name", ("Краткое наименование",)),
        ImportColumn("type", ("Тип",), help=gettext_lazy("Компания (по умолчанию) или Физическое лицо.")),
        ImportColumn("tax_number", ("ИНН",), help=gettext_lazy("Дубль по ИНН пропускается.")),
        ImportColumn("registration_number", ("ОГРН",)),
        ImportColumn("segment", ("Сегмент",)),
        ImportColumn("status", ("Статус",), help=gettext_lazy("Потенциальный (по умолчанию), Активный, Неактивный.")),
        ImportColumn("phone", ("Телефон",)),
        ImportColumn("email", ("Email", "E-mail", "Почта")),
        ImportColumn("notes", ("Заметки", "Комментарий")),
    ),
)


def admin_urls(site) -> list:
    return import_urls(site, CLIENT_IMPORT)
