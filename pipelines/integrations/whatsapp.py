"""The WhatsApp Business Cloud API webhook format (Meta): the signature and the message notifications.

Meta POSTs `{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field": "messages",
"value": {"messaging_product", "metadata", "contacts": [{"profile": {"name"}, "wa_id"}], "messages": [{"from",
"id", "timestamp", "type", "text": {"body"} | "image": {"caption", …} | …}], "statuses": [...]}}]}]}` and signs
the raw body with the app secret in `X-Hub-Signature-256: sha256=<hex>`.
"""

import hashlib
import hmac
from dataclasses import dataclass

from crm.errors import ValidationFailed

_MEDIA_LABELS = {
    "image": "Изображение",
    "video": "Видео",
    "document": "Документ",
    "audio": "Аудио",
    "voice": "Голосовое сообщение",
    "sticker": "Стикер",
    "location": "Геопозиция",
    "contacts": "Контакт",
}


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    wa_id: str
    name: str
    text: str


def signature_is_valid(*, app_secret: str, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw body with the app secret, compared in constant time (no secret: never valid)."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def _message_text(message: dict) -> str:
    kind = message.get("type")
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    if kind == "text":
        return str(body.get("body", ""))
    if kind == "button":
        return str(body.get("text", ""))
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return str(reply.get("title", ""))
    if kind == "reaction":
        return f"Реакция: {body.get('emoji', '')}"
    label = _MEDIA_LABELS.get(kind, f"Сообщение типа «{kind}»")
    caption = body.get("caption") or body.get("name") or body.get("address")
    return f"{label}: {caption}" if caption else label


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationFailed("Malformed WhatsApp notification.", details={"body": [message]})


def messages_from_notification(payload) -> list[InboundMessage]:
    """Every inbound message of a notification; status updates (delivered, read…) are not messages."""
    _require(isinstance(payload, dict), "The body must be a JSON object.")
    entries = payload.get("entry")
    _require(isinstance(entries, list), "`entry` must be a list.")
    found = []
    for entry in entries:
        _require(isinstance(entry, dict) and isinstance(entry.get("changes", []), list), "Malformed `entry`.")
        for change in entry.get("changes", []):
            value = change.get("value") if isinstance(change, dict) else None
            _require(isinstance(value, dict), "Each change needs a `value` object.")
            found += _messages_of(value)
    return found


def _messages_of(value: dict) -> list[InboundMessage]:
    contacts = value.get("contacts") or []
    messages = value.get("messages") or []
    _require(isinstance(contacts, list) and isinstance(messages, list), "`contacts` and `messages` must be lists.")
    names = {
        str(contact.get("wa_id")): str((contact.get("profile") or {}).get("name") or "")
        for contact in contacts
        if isinstance(contact, dict)
    }
    result = []
    for message in messages:
        _require(isinstance(message, dict), "Each message must be an object.")
        message_id, sender = message.get("id"), message.get("from")
        _require(isinstance(message_id, str) and bool(message_id), "A message needs an `id`.")
        _require(isinstance(sender, str | int) and bool(str(sender).strip()), "A message needs a `from` number.")
        sender = str(sender).strip()
        result.append(
            InboundMessage(message_id=message_id, wa_id=sender, name=names.get(sender, ""), text=_message_text(message))
        )
    return result
