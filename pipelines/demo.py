"""Demo leads for `manage.py demo_data`: three dozen leads from every source, spread over the default pipeline."""

import random
from typing import Any

from pipelines import services
from pipelines.models import LeadSource, Pipeline

DEMO_LEAD_COUNT = 36
_FIRST_NAMES = ["Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Захар", "Ирина", "Кирилл", "Лидия", "Марк"]
_LAST_NAMES = ["Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Соколов"]
_MESSAGES = [
    "Здравствуйте! Сколько стоит доставка в Казань?",
    "Хочу узнать про оптовые цены",
    "Перезвоните мне после 18:00, пожалуйста",
    "Есть ли товар в наличии?",
    "Интересует рассрочка",
]
_COMMENTS = [
    "Просит счёт на юрлицо",
    "Сравнивает с конкурентами",
    "Готов купить в этом месяце",
    "Не отвечает на звонки",
]


def _whatsapp_payload(number: int, name: str, wa_id: str, message: str) -> dict[str, Any]:
    """A WhatsApp Cloud API webhook body carrying one text message, as Meta delivers it."""
    incoming = {"from": wa_id, "id": f"wamid.demo{number}", "type": "text", "text": {"body": message}}
    value = {
        "messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [incoming],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "demo", "changes": [{"field": "messages", "value": value}]}],
    }


def _intake(demo, rng: random.Random, number: int, source: str, name: str, phone: str):
    message = rng.choice(_MESSAGES)
    if source == LeadSource.WHATSAPP:
        wa_id = phone.lstrip("+")
        payload: dict[str, Any] = _whatsapp_payload(number, name, wa_id, message)
        return services.lead_intake(
            tenant=demo.tenant,
            source=source,
            delivery_id=f"wamid.demo{number}",
            name=name,
            phone=phone,
            message=message,
            payload=payload,
            external_id=wa_id,
        )[0]
    if source == LeadSource.CHATFLOW:
        payload = {"chat_id": f"demo-{number}", "contact": {"name": name, "phone": phone}, "message": message}
        return services.lead_intake(
            tenant=demo.tenant,
            source=source,
            delivery_id=f"demo-{number}",
            name=name,
            phone=phone,
            message=message,
            payload={**payload, "bot": "demo-bot"},
            external_id=f"demo-{number}",
        )[0]
    email = f"client{number}@example.com"
    payload = {"name": name, "phone": phone, "email": email, "message": message, "utm_source": "yandex"}
    return services.lead_intake(
        tenant=demo.tenant,
        source=source,
        delivery_id=None,
        name=name,
        phone=phone,
        email=email,
        message=message,
        payload=payload,
    )[0]


def demo_leads_create(*, demo) -> None:
    """Leads from WhatsApp, Chatflow, the site and by hand, assigned, moved and commented like real work."""
    rng = random.Random(2025)  # noqa: S311 - reproducible sample data, not secrets
    pipeline = Pipeline.objects.for_tenant(demo.tenant).get(is_default=True)
    stages = list(pipeline.stages.order_by("order_index", "id"))
    supervisors = [demo.owner, demo.rop]
    sources = [LeadSource.WHATSAPP, LeadSource.CHATFLOW, LeadSource.SITE, LeadSource.MANUAL]
    for number in range(DEMO_LEAD_COUNT):
        name = f"{_FIRST_NAMES[number % len(_FIRST_NAMES)]} {_LAST_NAMES[number % len(_LAST_NAMES)]}"
        phone = f"+7916{5_000_000 + number * 7919:07d}"
        source = sources[number % len(sources)]
        assignee = demo.managers[number % len(demo.managers)] if number % 5 else None
        if source == LeadSource.MANUAL:
            lead = services.lead_create(
                tenant=demo.tenant, acting_user=demo.rop, name=name, phone=phone, assigned_to=assignee, source=source
            )
        else:
            lead = _intake(demo, rng, number, source, name, phone)
            if assignee is not None:
                lead = services.lead_update(lead=lead, acting_user=demo.rop, assigned_to=assignee)
        target = rng.randrange(len(stages))
        for stage in stages[1 : min(target, 2) + 1] + (stages[target : target + 1] if target > 2 else []):
            lead = services.lead_move_to_stage(lead=lead, stage=stage, acting_user=assignee or rng.choice(supervisors))
        if rng.random() < 0.4:
            services.lead_update(lead=lead, acting_user=assignee or demo.owner, comment=rng.choice(_COMMENTS))
