"""Versioned change forms in the back-office (SPEC §11): a stale save says so instead of overwriting.

The change form of a lead, lead task, client or deal carries, in a hidden field, the version the object had when the
page was opened. Saving after someone else's change (the API, another tab) is a form error in Russian and changes
nothing; `expected(form)` hands the same version to the service, which checks it again under the row lock (as for
`If-Match`), so a save racing another one is refused too (the service's StaleIfMatch, shown as an error message).
A post without the field (a script) applies as before, like an API PATCH without `If-Match`.
"""

from django import forms
from django.contrib.admin.utils import flatten_fieldsets

from crm.versions import ANY, MAX_VERSION, STALE_ADMIN_MESSAGE, Expected

VERSION_FIELD = "version"


class VersionedChangeForm(forms.Form):
    """Mixed into the admin's model form of an existing object."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0, max_value=MAX_VERSION)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[VERSION_FIELD].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        opened_with = cleaned.get(VERSION_FIELD)
        if opened_with is not None and opened_with != self.instance.version:
            raise forms.ValidationError(STALE_ADMIN_MESSAGE, code="stale")
        return cleaned


class VersionedAdminMixin:
    """For the model admins of versioned objects; put it before the admin base class."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        (name, options), *rest = fieldsets
        return [(name, {**options, "fields": [*options["fields"], VERSION_FIELD]}), *rest]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return super().get_form(request, obj, change=change, **kwargs)
        # `version` is not a model form field (the model keeps it out of forms): the form declares it instead.
        fields = kwargs.pop("fields", None) or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [name for name in fields if name != VERSION_FIELD]
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (VersionedChangeForm, form), {})

    @staticmethod
    def expected(form) -> Expected:
        """What a change form's save expects of the object (no expectation on an add form)."""
        opened_with = getattr(form, "cleaned_data", {}).get(VERSION_FIELD)
        return ANY if opened_with is None else Expected(if_match=opened_with)
