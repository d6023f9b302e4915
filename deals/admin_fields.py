"""Form fields of the brokerage back-office: a client's contacts as rows, a deal's tags as one line of words.

Both store what the API stores (`contacts`: a list of {type, value, name, is_primary}; `tags`: a list of short
strings), so the services and the API read the admin's writes unchanged.
"""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from deals.models import ContactType, validate_contacts
from deals.models.clients import MAX_CONTACTS

EXTRA_CONTACT_ROWS = 2
MAX_TAGS, MAX_TAG_LENGTH = 50, 64  # the API's limits (deals.api.inputs)


class ContactsWidget(forms.Widget):
    """A row per contact (type, value, name, primary) and two empty rows; a row without a value is dropped."""

    def value_from_datadict(self, data, files, name):
        rows = []
        for index in range(MAX_CONTACTS + EXTRA_CONTACT_ROWS):
            prefix = f"{name}-{index}-"
            if f"{prefix}type" not in data:
                break
            value = data.get(f"{prefix}value", "").strip()
            if value:
                rows.append(
                    {
                        "type": data.get(f"{prefix}type", ""),
                        "value": value,
                        "name": data.get(f"{prefix}name", "").strip(),
                        "is_primary": data.get(f"{prefix}is_primary") == "on",
                    }
                )
        return rows

    def value_omitted_from_data(self, data, files, name):
        return False  # no rows posted is no contacts

    def render(self, name, value, attrs=None, renderer=None):
        contacts = [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []
        rows = [*contacts, *[{}] * EXTRA_CONTACT_ROWS]
        body = format_html_join("", "{}", ((self._row(name, index, row),) for index, row in enumerate(rows)))
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", _("Тип"), _("Значение"), _("Имя"), _("Основной")
        )
        return format_html('<table class="contact-rows" id="{}_rows">{}{}</table>', name, head, body)

    @staticmethod
    def _row(name: str, index: int, contact: dict):
        prefix = f"{name}-{index}-"
        chosen = contact.get("type", ContactType.PHONE)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, " selected" if value == chosen else "", label) for value, label in ContactType.choices),
        )
        return format_html(
            '<tr><td><select name="{p}type">{o}</select></td>'
            '<td><input type="text" name="{p}value" value="{v}" maxlength="255"></td>'
            '<td><input type="text" name="{p}name" value="{n}" maxlength="255"></td>'
            '<td><input type="checkbox" name="{p}is_primary"{c}></td></tr>',
            p=prefix,
            o=options,
            v=contact.get("value", ""),
            n=contact.get("name", ""),
            c=" checked" if contact.get("is_primary") else "",
        )


class ContactsField(forms.Field):
    widget = ContactsWidget

    def to_python(self, value):
        return value if isinstance(value, list) else []

    def validate(self, value):
        try:
            validate_contacts(value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc


class TagsField(forms.Field):
    """Tags typed on one line, separated by commas; repeated tags once. A posted JSON list is read as a list."""

    widget = forms.TextInput(attrs={"size": 60, "placeholder": gettext_lazy("каско, vip, продление")})

    @property
    def message(self) -> str:
        return _("Теги через запятую: до %(tags)s, каждый до %(length)s символов.") % {
            "tags": MAX_TAGS,
            "length": MAX_TAG_LENGTH,
        }

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = (value or "").strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise forms.ValidationError(self.message) from exc
            if not isinstance(parsed, list) or not all(isinstance(tag, str) for tag in parsed):
                raise forms.ValidationError(self.message)
            return list(dict.fromkeys(parsed))
        return list(dict.fromkeys(tag.strip() for tag in text.split(",") if tag.strip()))

    def validate(self, value):
        if len(value) > MAX_TAGS or any(len(tag) > MAX_TAG_LENGTH for tag in value):
            raise forms.ValidationError(self.message)
