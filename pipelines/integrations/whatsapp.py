"""The WhatsApp Business Cloud API webhook format (Meta): the signature and the message notifications.

Meta POSTs `{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field": "messages",
"value": {"messaging_product", "metadata", "contacts": [{"profile": {"name"}, "wa_id"}], "messages": [{"from",
"id", "timestamp", "type", "text": {"body"} | "image": {"caption", …} | …}], "statuses": [...]}}]}]}` and signs
the raw body with the app secret in `X-Hub-Signature-256: sha256=<hex>`.

One notification can carry several messages (of several senders); each is read on its own, so a malformed one
is reported and skipped while the others still make leads (SPEC §15). What is kept of a message is its own part:
the change's `value` narrowed to that message and its sender's contact, with the documented keys only.
"""

import hashlib
import hmac
from dataclasses import dataclass, field

from crm.errors import ValidationFailed
from pipelines.models import MAX_TEXT_LENGTH

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
# The documented keys of a message besides its type's own object (`text`, `image`, …).
_MESSAGE_KEYS = ("from", "id", "timestamp", "type", "context", "referral")
_METADATA_KEYS = ("display_phone_number", "phone_number_id")


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    wa_id: str
    name: str
    text: str
    part: dict


@dataclass
class Notification:
    """The messages of a notification that could be read, and why the others could not."""

    messages: list[InboundMessage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Malformed(Exception):  # noqa: N818 - internal: one part of a notification is skipped
    pass


def signature_is_valid(*, app_secret: str, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the raw body with the app secret, compared in constant time (no secret: never valid)."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"`{what}` must be a list.")
    return value


def _message_text(message: dict, kind: str) -> str:
    body = _object(message.get(kind))
    if kind == "text":
        return str(body.get("body", ""))
    if kind == "button":
        return str(body.get("text", ""))
    if kind == "interactive":
        reply = _object(body.get("button_reply")) or _object(body.get("list_reply"))
        return str(reply.get("title", ""))
    if kind == "reaction":
        return f"Реакция: {body.get('emoji', '')}"
    label = _MEDIA_LABELS.get(kind, f"Сообщение типа «{kind[:40]}»")
    caption = body.get("caption") or body.get("name") or body.get("address")
    return f"{label}: {caption}" if caption else label


def messages_from_notification(payload) -> Notification:
    """Every readable inbound message of a notification; status updates (delivered, read…) are not messages.

    A body that is not a notification at all (not an object, no `entry` list) is a 400; a malformed entry,
    change or message is listed in `problems` and skipped.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValidationFailed(
            "Malformed WhatsApp notification.", details={"body": ["Expected an object with an `entry` list."]}
        )
    notification = Notification()
    for entry_index, entry in enumerate(payload["entry"]):
        try:
            if not isinstance(entry, dict):
                raise _Malformed("an entry must be an object.")
            changes = _list(entry.get("changes"), "changes")
        except _Malformed as exc:
            notification.problems.append(f"entry[{entry_index}]: {exc}")
            continue
        for change_index, change in enumerate(changes):
            where = f"entry[{entry_index}].changes[{change_index}]"
            _read_change(_object(change).get("value"), where, notification)
    return notification


def _read_change(value, where: str, notification: Notification) -> None:
    if not isinstance(value, dict):
        notification.problems.append(f"{where}: `value` must be an object.")
        return
    try:
        contacts = {
            str(contact.get("wa_id")): contact
            for contact in _list(value.get("contacts"), "contacts")
            if _object(contact)
        }
        messages = _list(value.get("messages"), "messages")
    except _Malformed as exc:
        notification.problems.append(f"{where}: {exc}")
        return
    for index, message in enumerate(messages):
        try:
            notification.messages.append(_read_message(message, value, contacts))
        except _Malformed as exc:
            notification.problems.append(f"{where}.value.messages[{index}]: {exc}")


def _read_message(message, value: dict, contacts: dict) -> InboundMessage:
    if not isinstance(message, dict):
        raise _Malformed("a message must be an object.")
    message_id, sender, kind = message.get("id"), message.get("from"), message.get("type")
    if not isinstance(message_id, str) or not message_id.strip():
        raise _Malformed("a message needs an `id`.")
    if isinstance(sender, bool) or not isinstance(sender, str | int) or not str(sender).strip():
        raise _Malformed("a message needs a `from` number.")
    if not isinstance(kind, str) or not kind:
        raise _Malformed("a message needs a `type`.")
    sender = str(sender).strip()
    text = _message_text(message, kind)
    if len(text) > MAX_TEXT_LENGTH:
        raise _Malformed(f"the text is longer than {MAX_TEXT_LENGTH} characters.")
    contact = _object(contacts.get(sender))
    profile = _object(contact.get("profile"))
    name = profile.get("name")
    kept_contact = {"profile": {"name": name}, "wa_id": sender} if isinstance(name, str) else {"wa_id": sender}
    part = {
        "messaging_product": value.get("messaging_product"),
        "metadata": {k: v for k, v in _object(value.get("metadata")).items() if k in _METADATA_KEYS},
        "contacts": [kept_contact],
        "messages": [{key: message[key] for key in (*_MESSAGE_KEYS, kind) if key in message}],
    }
    return InboundMessage(
        message_id=message_id,
        wa_id=sender,
        name=name if isinstance(name, str) else "",
        text=text,
        part=part,
    )
