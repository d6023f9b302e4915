import copy
import hashlib
import hmac
import json

import pytest
from django.urls import reverse

from pipelines.models import InboundDelivery, Lead, LeadHistory

APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"

# Shapes as Meta documents them (WhatsApp Cloud API, "Webhooks: messages").
WHATSAPP_TEXT = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "79161234567"}],
                        "messages": [
                            {
                                "from": "79161234567",
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                                "timestamp": "1749416383",
                                "type": "text",
                                "text": {"body": "Здравствуйте, сколько стоит доставка?"},
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}
WHATSAPP_IMAGE = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                        "contacts": [{"profile": {"name": "Пётр"}, "wa_id": "79035550011"}],
                        "messages": [
                            {
                                "from": "79035550011",
                                "id": "wamid.IMAGE0001",
                                "timestamp": "1750090702",
                                "type": "image",
                                "image": {
                                    "caption": "Вот такой диван",
                                    "mime_type": "image/jpeg",
                                    "sha256": "SfInY0gHMdSRZ9+KiX3Fpr5E8SVPm7aybG2Dt9BJeuM=",
                                    "id": "1003383421387256",
                                },
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}
WHATSAPP_STATUS = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA",
                                "status": "delivered",
                                "timestamp": "1750263773",
                                "recipient_id": "79161234567",
                                "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}


@pytest.fixture
def wa_tenant(tenant, pipeline):
    tenant.whatsapp_app_secret = APP_SECRET
    tenant.whatsapp_verify_token = VERIFY_TOKEN
    tenant.save()
    return tenant


def site_url(tenant):
    return reverse("webhook-site", args=[tenant.webhook_key])


def chatflow_url(tenant):
    return reverse("webhook-chatflow", args=[tenant.webhook_key])


def whatsapp_url(tenant):
    return reverse("webhook-whatsapp", args=[tenant.webhook_key])


def signed_post(client, url, payload, *, secret=APP_SECRET, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.generic("POST", url, body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature)


# ---------------------------------------------------------------- site


def test_site_form_creates_a_lead_in_the_first_stage(api_client, tenant, stages, events):
    payload = {
        "name": "Анна",
        "phone": "8 916 000-00-01",
        "email": "anna@example.com",
        "message": "Хочу консультацию",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "page_url": "https://example.com/landing",
    }

    with events.capture():
        response = api_client(None).post(site_url(tenant), payload, format="json")

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert response.json() == {"lead_id": lead.pk, "created": True}
    assert (lead.source, lead.phone, lead.email, lead.name) == ("site", "+79160000001", "anna@example.com", "Анна")
    assert (lead.pipeline_id, lead.stage_id) == (stages[0].pipeline_id, stages[0].pk)
    assert lead.moved_to_stage_at is not None
    assert lead.source_payload == payload
    assert lead.history.get().kind == "created"
    assert [(e.event_type, e.lead_id, e.tenant_id) for e in events.sent] == [("lead_created", lead.pk, tenant.pk)]


def test_site_form_urlencoded(api_client, tenant, pipeline):
    response = api_client(None).generic(
        "POST",
        site_url(tenant),
        "name=%D0%9E%D0%BB%D1%8F&email=olya%40example.com&message=hi",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert (lead.name, lead.email, lead.phone) == ("Оля", "olya@example.com", None)
    assert lead.source_payload == {"name": "Оля", "email": "olya@example.com", "message": "hi"}


def test_site_idempotency_key_dedupes(api_client, tenant, pipeline, events):
    client = api_client(None)
    payload = {"name": "A", "phone": "+79160000002"}

    with events.capture():
        first = client.post(site_url(tenant), payload, format="json", HTTP_IDEMPOTENCY_KEY="form-42")
        second = client.post(site_url(tenant), payload, format="json", HTTP_IDEMPOTENCY_KEY="form-42")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == {"lead_id": first.json()["lead_id"], "created": False}
    assert Lead.objects.count() == 1
    assert LeadHistory.objects.count() == 1
    assert [e.event_type for e in events.sent] == ["lead_created"]


def test_site_second_message_from_open_lead_goes_to_history(api_client, tenant, pipeline, events):
    client = api_client(None)
    first = client.post(site_url(tenant), {"phone": "+79160000003", "message": "one"}, format="json")

    with events.capture():
        second = client.post(site_url(tenant), {"phone": "8 916 000 00 03", "message": "two"}, format="json")

    assert second.status_code == 200
    assert second.json() == {"lead_id": first.json()["lead_id"], "created": False}
    lead = Lead.objects.get()
    message = lead.history.get(kind="message")
    assert message.text == "two"
    assert message.payload == {"phone": "8 916 000 00 03", "message": "two"}
    assert [e.event_type for e in events.sent] == ["lead_updated"]


def test_site_message_after_the_lead_closed_makes_a_new_lead(api_client, tenant, stages):
    client = api_client(None)
    first = client.post(site_url(tenant), {"phone": "+79160000004"}, format="json").json()
    Lead.objects.filter(pk=first["lead_id"]).update(stage=stages[3])

    second = client.post(site_url(tenant), {"phone": "+79160000004"}, format="json")

    assert second.status_code == 201
    assert Lead.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"name": "broken"', "application/json"),
        ('{"name": "no contact"}', "application/json"),
        ('{"phone": "garbage"}', "application/json"),
        ('{"email": "not-an-email"}', "application/json"),
        ("[1, 2]", "application/json"),
        ("name=only", "application/x-www-form-urlencoded"),
    ],
)
def test_site_malformed_is_400_and_stores_nothing(api_client, tenant, pipeline, body, content_type):
    response = api_client(None).generic("POST", site_url(tenant), body, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()
    assert not InboundDelivery.objects.exists()


def test_site_unknown_key_is_404(api_client, tenant, pipeline):
    response = api_client(None).post("/api/webhooks/site/not-a-key", {"phone": "+79160000005"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert not Lead.objects.exists()


def test_site_rotated_key_stops_working(api_client, tenant, pipeline):
    from crm.services import tenant_rotate_webhook_key

    old_key = tenant.webhook_key
    tenant_rotate_webhook_key(tenant=tenant)

    response = api_client(None).post(f"/api/webhooks/site/{old_key}", {"phone": "+79160000005"}, format="json")

    assert response.status_code == 404
    assert not Lead.objects.exists()


def test_oversized_body_is_413(api_client, tenant, pipeline):
    body = json.dumps({"phone": "+79160000006", "message": "x" * (1024 * 1024)})

    response = api_client(None).generic("POST", site_url(tenant), body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert not Lead.objects.exists()


def test_unsupported_content_type_is_415(api_client, tenant, pipeline):
    response = api_client(None).generic("POST", site_url(tenant), "phone=1", content_type="text/plain")

    assert response.status_code == 415
    assert not Lead.objects.exists()


# ---------------------------------------------------------------- chatflow


def test_chatflow_creates_and_dedupes(api_client, tenant, pipeline, events):
    client = api_client(None)
    payload = {
        "chat_id": "cf-100",
        "contact": {"name": "Игорь", "phone": "+7 903 111-22-33", "email": None},
        "message": "Оформите заказ",
        "bot": "sales-bot",
    }

    with events.capture():
        first = client.post(chatflow_url(tenant), payload, format="json")
        repeat = client.post(chatflow_url(tenant), payload, format="json")
        follow_up = client.post(chatflow_url(tenant), {**payload, "message": "Ещё вопрос"}, format="json")

    assert (first.status_code, repeat.status_code, follow_up.status_code) == (201, 200, 200)
    lead = Lead.objects.get()
    assert first.json() == {"lead_id": lead.pk, "created": True}
    assert (lead.source, lead.phone, lead.name, lead.external_id) == ("chatflow", "+79031112233", "Игорь", "cf-100")
    assert lead.source_payload == payload
    assert list(lead.history.order_by("id").values_list("kind", flat=True)) == ["created", "message"]
    assert [e.event_type for e in events.sent] == ["lead_created", "lead_updated"]


@pytest.mark.parametrize(
    "payload",
    [
        {"contact": {"phone": "+79031112233"}, "message": "no chat id"},
        {"chat_id": "cf-1", "message": "no contact"},
        {"chat_id": "cf-1", "contact": {"name": "Only name"}, "message": "hi"},
        {"chat_id": "cf-1", "contact": "+79031112233"},
    ],
)
def test_chatflow_malformed_is_400(api_client, tenant, pipeline, payload):
    response = api_client(None).post(chatflow_url(tenant), payload, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()


def test_chatflow_unknown_key_is_404(api_client, pipeline):
    response = api_client(None).post(
        "/api/webhooks/chatflow/nope", {"chat_id": "1", "contact": {"phone": "+79031112233"}}, format="json"
    )

    assert response.status_code == 404


# ---------------------------------------------------------------- whatsapp


def test_whatsapp_handshake(api_client, wa_tenant):
    response = api_client(None).get(
        whatsapp_url(wa_tenant),
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )

    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize("token", ["wrong", ""])
def test_whatsapp_handshake_wrong_token_is_403(api_client, wa_tenant, token):
    response = api_client(None).get(
        whatsapp_url(wa_tenant), {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1"}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_whatsapp_handshake_without_challenge_is_400(api_client, wa_tenant):
    response = api_client(None).get(whatsapp_url(wa_tenant), {"hub.verify_token": VERIFY_TOKEN})

    assert response.status_code == 400


def test_whatsapp_handshake_unknown_key_is_404(api_client, wa_tenant):
    response = api_client(None).get(
        "/api/webhooks/whatsapp/unknown",
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    )

    assert response.status_code == 404


def test_whatsapp_text_message_creates_a_lead(api_client, wa_tenant, stages, events):
    with events.capture():
        response = signed_post(api_client(None), whatsapp_url(wa_tenant), WHATSAPP_TEXT)

    assert response.status_code == 200
    assert response.json() == {"received": 1}
    lead = Lead.objects.get()
    assert (lead.source, lead.phone, lead.name, lead.external_id) == (
        "whatsapp",
        "+79161234567",
        "Sheena Nelson",
        "79161234567",
    )
    assert lead.comment == "Здравствуйте, сколько стоит доставка?"
    assert lead.stage_id == stages[0].pk
    # The message's own part: the change's value (one message here), not the whole notification.
    assert lead.source_payload == WHATSAPP_TEXT["entry"][0]["changes"][0]["value"]
    assert [e.event_type for e in events.sent] == ["lead_created"]


def test_whatsapp_image_with_caption(api_client, wa_tenant):
    response = signed_post(api_client(None), whatsapp_url(wa_tenant), WHATSAPP_IMAGE)

    assert response.status_code == 200
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.comment) == ("Пётр", "+79035550011", "Изображение: Вот такой диван")


def test_whatsapp_statuses_only_create_nothing(api_client, wa_tenant, events):
    with events.capture():
        response = signed_post(api_client(None), whatsapp_url(wa_tenant), WHATSAPP_STATUS)

    assert response.status_code == 200
    assert response.json() == {"received": 0}
    assert not Lead.objects.exists()
    assert events.sent == []


def test_whatsapp_redelivery_is_idempotent(api_client, wa_tenant, events):
    client = api_client(None)

    with events.capture():
        first = signed_post(client, whatsapp_url(wa_tenant), WHATSAPP_TEXT)
        second = signed_post(client, whatsapp_url(wa_tenant), WHATSAPP_TEXT)

    assert (first.status_code, second.status_code) == (200, 200)
    assert Lead.objects.count() == 1
    assert LeadHistory.objects.count() == 1
    assert [e.event_type for e in events.sent] == ["lead_created"]


def test_whatsapp_new_message_for_an_open_lead(api_client, wa_tenant, events):
    client = api_client(None)
    signed_post(client, whatsapp_url(wa_tenant), WHATSAPP_TEXT)
    follow_up = copy.deepcopy(WHATSAPP_TEXT)
    message = follow_up["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = "wamid.SECOND"
    message["text"]["body"] = "И ещё вопрос"

    with events.capture():
        response = signed_post(client, whatsapp_url(wa_tenant), follow_up)

    assert response.status_code == 200
    lead = Lead.objects.get()
    entry = lead.history.get(kind="message")
    assert entry.text == "И ещё вопрос"
    assert entry.payload == follow_up["entry"][0]["changes"][0]["value"]
    assert [(e.event_type, e.lead_id) for e in events.sent] == [("lead_updated", lead.pk)]


def test_whatsapp_wrong_signature_is_401(api_client, wa_tenant):
    response = signed_post(api_client(None), whatsapp_url(wa_tenant), WHATSAPP_TEXT, secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not Lead.objects.exists()


def test_whatsapp_missing_signature_is_401(api_client, wa_tenant):
    response = api_client(None).post(whatsapp_url(wa_tenant), WHATSAPP_TEXT, format="json")

    assert response.status_code == 401
    assert not Lead.objects.exists()


def test_whatsapp_without_an_app_secret_refuses_everything(api_client, tenant, pipeline):
    response = signed_post(api_client(None), whatsapp_url(tenant), WHATSAPP_TEXT, secret="")

    assert response.status_code == 401
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"object": "whatsapp_business_account", "entry": [',
        b'{"object": "whatsapp_business_account"}',
        b'{"entry": [{"changes": [{"value": {"messages": [{"id": "wamid.X", "type": "text"}]}}]}]}',
        b'{"entry": [{"changes": [{"value": {"messages": [{"id": "wamid.X", "from": "12", "type": "text"}]}}]}]}',
    ],
)
def test_whatsapp_malformed_is_400(api_client, wa_tenant, raw):
    response = signed_post(api_client(None), whatsapp_url(wa_tenant), None, raw=raw)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()
    assert not InboundDelivery.objects.exists()


def test_whatsapp_a_bad_message_is_skipped_and_the_good_one_stored(api_client, wa_tenant, caplog):
    payload = copy.deepcopy(WHATSAPP_TEXT)
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(0, {**messages[0], "id": "wamid.BAD", "from": "1"})

    response = signed_post(api_client(None), whatsapp_url(wa_tenant), payload)

    assert response.status_code == 200
    assert response.json() == {"received": 1}
    lead = Lead.objects.get()
    assert lead.phone == "+79161234567"
    assert list(InboundDelivery.objects.values_list("delivery_id", flat=True)) == [messages[1]["id"]]
    assert "wamid.BAD" in caplog.text


def test_intake_leads_count_in_the_table_total_at_once(api_client, owner_client, tenant, pipeline):
    client = api_client(None)
    for n in range(3):
        client.post(site_url(tenant), {"phone": f"+7916000001{n}"}, format="json")

    assert owner_client.get("/api/v2/leads/table").json()["total"] == 3
    assert owner_client.get("/api/v2/leads/table?source=site").json()["total"] == 3


# ---------------------------------------------------------------- what intake keeps (SPEC §15)

JUNK = {f"junk_{n}": "x" * 1000 for n in range(900)}  # ~0.9 MB of keys no form has


def stored_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def test_site_keeps_only_the_form_fields_it_knows(api_client, tenant, pipeline):
    known = {"name": "Анна", "phone": "+79160000071", "utm_source": "google", "page_url": "https://example.com/a"}
    client = api_client(None)

    first = client.post(site_url(tenant), {**known, **JUNK, "nested": {"deep": [1, 2]}}, format="json")
    second = client.post(site_url(tenant), {**known, **JUNK, "message": "ещё"}, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    lead = Lead.objects.get()
    assert lead.source_payload == known
    assert lead.history.get(kind="message").payload == {**known, "message": "ещё"}
    assert max(stored_size(entry.payload) for entry in lead.history.all()) < 64 * 1024


def test_site_form_post_keeps_only_known_fields(api_client, tenant, pipeline):
    body = "email=olya%40example.com&message=hi&" + "&".join(f"k{n}=" + "y" * 500 for n in range(900))

    response = api_client(None).generic(
        "POST", site_url(tenant), body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 201
    assert Lead.objects.get().source_payload == {"email": "olya@example.com", "message": "hi"}


def test_chatflow_keeps_only_the_fields_it_knows(api_client, tenant, pipeline):
    payload = {
        "chat_id": "cf-200",
        "contact": {"name": "Игорь", "phone": "+79031112299", "avatar": "z" * 100_000},
        "message": "Привет",
        "bot": "sales",
        **JUNK,
    }

    response = api_client(None).post(chatflow_url(tenant), payload, format="json")

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert lead.source_payload == {
        "chat_id": "cf-200",
        "contact": {"name": "Игорь", "phone": "+79031112299"},
        "message": "Привет",
        "bot": "sales",
    }
    assert lead.history.get().payload == lead.source_payload


def test_site_form_with_too_many_fields_is_400(api_client, tenant, pipeline):
    body = "phone=%2B79160000072&" + "&".join(f"k{n}=1" for n in range(1500))

    response = api_client(None).generic(
        "POST", site_url(tenant), body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()


def _two_senders() -> dict:
    payload = copy.deepcopy(WHATSAPP_TEXT)
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"].append({"profile": {"name": "Второй"}, "wa_id": "79035550022"})
    value["messages"].append(
        {"from": "79035550022", "id": "wamid.OTHER", "timestamp": "1", "type": "text", "text": {"body": "второй"}}
    )
    return payload


def test_whatsapp_keeps_each_messages_own_part(api_client, wa_tenant):
    payload = _two_senders()
    value = payload["entry"][0]["changes"][0]["value"]
    value["junk"] = "x" * 300_000
    value["messages"][0]["junk"] = "y" * 300_000
    value["contacts"][0]["junk"] = "z" * 300_000

    response = signed_post(api_client(None), whatsapp_url(wa_tenant), payload)

    assert response.status_code == 200
    assert response.json() == {"received": 2}
    first, second = Lead.objects.order_by("phone")
    original = WHATSAPP_TEXT["entry"][0]["changes"][0]["value"]
    assert first.phone == "+79035550022"
    assert first.source_payload == {
        "messaging_product": "whatsapp",
        "metadata": original["metadata"],
        "contacts": [{"profile": {"name": "Второй"}, "wa_id": "79035550022"}],
        "messages": [
            {"from": "79035550022", "id": "wamid.OTHER", "timestamp": "1", "type": "text", "text": {"body": "второй"}}
        ],
    }
    assert second.source_payload == original
    assert max(stored_size(row.source_payload) for row in (first, second)) < 64 * 1024


def test_whatsapp_a_message_over_64_kib_is_skipped(api_client, wa_tenant):
    payload = _two_senders()
    message = payload["entry"][0]["changes"][0]["value"]["messages"][1]
    message["type"], message["image"] = "image", {"caption": "c" * 70_000}
    del message["text"]

    response = signed_post(api_client(None), whatsapp_url(wa_tenant), payload)

    assert response.status_code == 200
    assert response.json() == {"received": 1}
    assert list(Lead.objects.values_list("phone", flat=True)) == ["+79161234567"]


def _with_value(value) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"value": value}]}]}


_GOOD_MESSAGE = {"from": "79161234567", "id": "wamid.GOOD", "type": "text", "text": {"body": "ok"}}


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "whatsapp_business_account", "entry": {"changes": []}},
        {"entry": "nope"},
        [1, 2],
        {"entry": ["a string"]},
        {"entry": [{"changes": {"value": {}}}]},
        {"entry": [{"changes": ["a string"]}]},
        _with_value(None),
        _with_value({"messages": {"id": "wamid.X"}}),
        _with_value({"messages": ["a string"]}),
        _with_value({"messages": [{"id": 5, "from": "79161234567", "type": "text"}]}),
        _with_value({"messages": [{**_GOOD_MESSAGE, "type": ["text"]}]}),
        _with_value({"messages": [{**_GOOD_MESSAGE, "from": True}]}),
        _with_value({"contacts": "79161234567", "messages": [_GOOD_MESSAGE]}),
        _with_value({"messages": [{**_GOOD_MESSAGE, "text": {"body": "x" * 20_000}}]}),
    ],
)
def test_whatsapp_odd_shapes_are_400_and_store_nothing(api_client, wa_tenant, payload):
    response = signed_post(api_client(None), whatsapp_url(wa_tenant), payload)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()
    assert not InboundDelivery.objects.exists()


@pytest.mark.parametrize(
    ("message", "comment"),
    [
        ({"text": {"body": 42}}, "42"),
        ({"text": "not an object"}, ""),
        ({"type": "interactive", "interactive": {"button_reply": "a string"}}, ""),
        ({"type": "image", "image": None}, "Изображение"),
        ({"type": "x" * 500}, "Сообщение типа «" + "x" * 40 + "»"),
    ],
)
def test_whatsapp_odd_but_readable_messages_are_taken_in(api_client, wa_tenant, message, comment):
    payload = _with_value(
        {
            "metadata": "not an object",
            "contacts": [{"profile": "a string", "wa_id": "79161234567"}, "a string"],
            "messages": [{**_GOOD_MESSAGE, **message}],
        }
    )

    response = signed_post(api_client(None), whatsapp_url(wa_tenant), payload)

    assert response.status_code == 200
    assert response.json() == {"received": 1}
    lead = Lead.objects.get()
    assert (lead.phone, lead.comment) == ("+79161234567", comment)


def test_whatsapp_a_malformed_change_beside_a_good_one(api_client, wa_tenant):
    payload = copy.deepcopy(WHATSAPP_TEXT)
    payload["entry"][0]["changes"].insert(0, {"value": None})
    payload["entry"].append("not an entry")

    response = signed_post(api_client(None), whatsapp_url(wa_tenant), payload)

    assert response.status_code == 200
    assert response.json() == {"received": 1}
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    "raw",
    [
        b'{"entry": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"entry": [' + b'{"a": ' * 150 + b"1" + b"}" * 150 + b"]}",
        b'{"entry": [], "x": "\\u0000"}',
        b'{"entry": [], "x": ' + b"9" * 5000 + b"}",
    ],
    ids=["deep", "depth-150", "nul", "huge-number"],
)
def test_whatsapp_unparseable_signed_bodies_are_400(api_client, wa_tenant, raw):
    response = signed_post(api_client(None), whatsapp_url(wa_tenant), None, raw=raw)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Lead.objects.exists()
