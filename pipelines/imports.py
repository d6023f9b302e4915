"""Import of leads from CSV/XLSX in the back-office: every row through `services.lead_create` (see crm.imports).

A row whose phone (normalised to E.164) already belongs to a lead of the tenant is a duplicate, and so is a row
with only an email that a lead already has: reported in the preview, never created twice (also within one file).
"""

import re
from decimal import Decimal, InvalidOperation
from typing import cast

from django.db.models import DecimalField, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.errors import ValidationFailed
from crm.i18n import stored
from crm.imports import DuplicateRow, ImportColumn, ImportSpec, import_urls
from crm.models import User
from crm.tenancy import tenant_users
from pipelines import services
from pipelines.models import Lead, LeadSource, Pipeline, Stage

# The file's «Источник» column holds a source's value or its Russian label, whatever the admin's language.
_SOURCES = {key.lower(): value for value, label in LeadSource.choices for key in (value, stored(label))}
# What people type around an amount: spaces between thousands (plain, no-break, thin) and the currency.
_PRICE_DECORATION = re.compile(r"[\s\u00a0\u202f]|₽|руб\.?|р\.", re.IGNORECASE)
# The bounds of a budget are the model field's (12 integer digits, 2 decimals, SPEC §3), as in the API.
_PRICE_FIELD = cast(DecimalField, Lead._meta.get_field("price"))
_CENT = Decimal(1).scaleb(-_PRICE_FIELD.decimal_places)
_PRICE_LIMIT = Decimal(10) ** (_PRICE_FIELD.max_digits - _PRICE_FIELD.decimal_places)


def _source(text: str) -> str:
    if not text:
        return LeadSource.MANUAL
    try:
        return _SOURCES[text.lower()]
    except KeyError:
        raise ValidationFailed.for_field(
            "Источник",
            _("«%(value)s»: одно из %(options)s.")
            % {"value": text, "options": ", ".join(map(stored, LeadSource.labels))},
        ) from None


def _stage(tenant, pipeline_name: str, stage_name: str) -> tuple[Pipeline | None, Stage | None]:
    pipeline = None
    if pipeline_name:
        pipeline = Pipeline.objects.for_tenant(tenant).filter(name__iexact=pipeline_name).order_by("id").first()
        if pipeline is None:
            raise ValidationFailed.for_field("Воронка", _("Нет воронки «%(name)s».") % {"name": pipeline_name})
    if not stage_name:
        return pipeline, None
    stages = Stage.objects.for_tenant(tenant).filter(name__iexact=stage_name)
    stages = stages.filter(pipeline=pipeline) if pipeline else stages.filter(pipeline__is_default=True)
    stage = stages.order_by("order_index", "id").first()
    if stage is None:
        raise ValidationFailed.for_field("Стадия", _("Нет стадии «%(name)s» в воронке.") % {"name": stage_name})
    return pipeline, stage


def _price(text: str) -> Decimal | None:
    """«1 250 000,50 ₽», «1250000.5» or empty (no budget); at most 2 decimals, ≥ 0, 12 integer digits."""
    if not text:
        return None
    try:
        price = Decimal(_PRICE_DECORATION.sub("", text).replace(",", "."))
        valid = price.is_finite() and 0 <= price < _PRICE_LIMIT and price == price.quantize(_CENT)
    except InvalidOperation:
        valid = False
    if not valid:
        raise ValidationFailed.for_field(
            "Бюджет", _("«%(value)s»: сумма от 0, не больше 2 знаков после запятой.") % {"value": text[:40]}
        )
    return price.quantize(_CENT)


def _assignee(tenant, text: str) -> User | None:
    if not text:
        return None
    users = tenant_users(tenant).filter(is_active=True)
    user = users.filter(Q(username__iexact=text) | Q(full_name__iexact=text) | Q(email__iexact=text)).first()
    if user is None:
        raise ValidationFailed.for_field("Ответственный", _("Нет активного пользователя «%(user)s».") % {"user": text})
    return user


def lead_import_row(*, tenant, acting_user, values: dict[str, str]) -> str:
    """Create one lead from a row through the service; duplicates by phone (or email alone) are refused."""
    phone = services.phone_normalize(values.get("phone"), region=tenant.phone_region, field="Телефон")
    email = services.email_normalize(values.get("email"), field="Email")
    existing = Lead.objects.for_tenant(tenant)
    if phone:
        existing = existing.filter(phone=phone)
    elif email:
        existing = existing.filter(email__iexact=email)
    else:
        raise ValidationFailed.for_field("Телефон", _("Нужен телефон или email."))
    duplicate = existing.order_by("id").first()
    if duplicate is not None:
        known = {"id": duplicate.pk, "name": duplicate.name, "phone": phone, "email": email}
        if phone:
            raise DuplicateRow(_("Уже есть лид #%(id)s «%(name)s» с телефоном %(phone)s.") % known)
        raise DuplicateRow(_("Уже есть лид #%(id)s «%(name)s» с email %(email)s.") % known)
    pipeline, stage = _stage(tenant, values.get("pipeline", ""), values.get("stage", ""))
    lead = services.lead_create(
        tenant=tenant,
        acting_user=acting_user,
        name=values.get("name", ""),
        phone=phone,
        email=email,
        comment=values.get("comment", ""),
        source=_source(values.get("source", "")),
        pipeline=pipeline,
        stage=stage,
        assigned_to=_assignee(tenant, values.get("assigned_to", "")),
        price=_price(values.get("price", "")),
    )
    return f"#{lead.pk} {lead.name} → «{lead.stage.name}»"


LEAD_IMPORT = ImportSpec(
    model=Lead,
    title=gettext_lazy("Импорт лидов"),
    import_row=lead_import_row,
    columns=(
        ImportColumn("name", ("Имя", "ФИО"), help=gettext_lazy("Как зовут; если пусто — телефон или email.")),
        ImportColumn(
            "phone",
            ("Телефон",),
            help=gettext_lazy("В любом виде: 8 916 123-45-67, +7 916 …; дубль по телефону пропускается."),
        ),
        ImportColumn("email", ("Email", "E-mail", "Почта"), help=gettext_lazy("Нужен телефон или email.")),
        ImportColumn("source", ("Источник",), help=gettext_lazy("Вручную (по умолчанию), Сайт, WhatsApp, Chatflow.")),
        ImportColumn("pipeline", ("Воронка",), help=gettext_lazy("Название; пусто — основная воронка.")),
        ImportColumn("stage", ("Стадия",), help=gettext_lazy("Название стадии воронки; пусто — первая открытая.")),
        ImportColumn("assigned_to", ("Ответственный",), help=gettext_lazy("Логин, имя или email пользователя.")),
        ImportColumn(
            "price",
            ("Бюджет", "Сумма"),
            help=gettext_lazy("Число: 1250000,50 или «1 250 000,50 ₽»; пусто — без бюджета."),
        ),
        ImportColumn("comment", ("Комментарий",)),
    ),
)


def admin_urls(site) -> list:
    return import_urls(site, LEAD_IMPORT)
