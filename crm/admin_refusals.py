"""A service's refusal in the back-office: form errors on a change form, one line per row in an action.

The admin saves through the services, which enforce the rules the API enforces and raise `ApplicationError`. On a
change form the refusal must look like any other invalid input: the page comes back with the input kept, the error
on its field (the API's `details` message), no success message and no history entry. `RefusalAwareAdminMixin` gets
that by letting the refusal escape Django's save path, which runs inside a transaction (everything the save did is
rolled back, nothing is logged), and rendering the same POST again with a form that carries the refusal as errors.
Actions report each row: what was done, and per refused row why, never a bare count. An inline row saved through a
service (`RefusalAwareInlineFormSet`) gets its refusal on that row instead of above the parent's form.
"""

from collections.abc import Callable

from django.contrib import messages
from django.db import transaction

from crm.errors import ApplicationError

# Where the service names a field differently from the form: the API's `*_id` inputs are the form's relations.
_SUFFIXES = ("_user_id", "_id")


def refusal_text(exc: ApplicationError) -> str:
    """One line for a person: the back-office wording when the service has one, else the message and its details."""
    if exc.admin_message:
        return str(exc.admin_message)
    details = [message for _, message in _detail_messages(exc)]
    return " ".join(dict.fromkeys([exc.message, *details]))


def _detail_messages(exc: ApplicationError):
    details = exc.details if isinstance(exc.details, dict) else {}
    for key, value in details.items():
        for message in value if isinstance(value, list | tuple) else [value]:
            yield str(key), str(message)


def _form_field(key: str, fields) -> str | None:
    head, _, _ = key.partition(".")
    for name in (head, *(head.removesuffix(suffix) for suffix in _SUFFIXES if head.endswith(suffix))):
        if name in fields:
            return name
    return None


def add_refusal_to_form(form, exc: ApplicationError) -> None:
    """The refusal as form errors: each `details` message on its field, what fits no field above the form."""
    if exc.admin_message:
        form.add_error(None, exc.admin_message)
        return
    placed = False
    for key, message in _detail_messages(exc):
        name = _form_field(key, form.fields)
        path = key.partition(".")[2]
        if name is not None:
            form.add_error(name, f"{path}: {message}" if path else message)
            placed = True
    if not placed:
        form.add_error(None, refusal_text(exc))


class RefusalAwareAdminMixin:
    """For model admins whose saves call services (mixed into crm.admin_base's views mixin)."""

    message_user: Callable[..., None]  # the ModelAdmin's

    def refusal_aware_changeform(self, request, render):
        """`render()` runs Django's change form view; a refusal rolls it back and renders the POST again."""
        try:
            return render()
        except ApplicationError as exc:
            if request.method != "POST" or getattr(request, "service_refusal", None) is not None:
                raise
            request.service_refusal = exc
        return render()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "service_refusal", None)
        if refusal is None or getattr(request, "service_refusal_row", None) is not None:
            return form  # no refusal, or one an inline row shows

        class RefusedForm(form):
            def _post_clean(self):
                super()._post_clean()
                add_refusal_to_form(self, refusal)

        RefusedForm.__name__ = form.__name__
        return RefusedForm

    def run_per_row(self, request, queryset, change, done_message: str) -> None:
        """Apply `change(obj)` to each selected row in its own transaction; say which rows were done and why the
        others were refused (by their names, so no count needs a plural)."""
        done = []
        for obj in queryset:
            try:
                with transaction.atomic():
                    change(obj)
            except ApplicationError as exc:
                self.message_user(request, f"«{obj}»: {refusal_text(exc)}", level=messages.ERROR)
            else:
                done.append(f"«{obj}»")
        if done:
            self.message_user(request, f"{done_message}: {', '.join(done)}.", level=messages.SUCCESS)


class RefusalAwareInlineFormSet:
    """For inline formsets whose `save()` calls services: `save_row` runs one row's service call; a refusal is
    marked as that row's and escapes (the save is rolled back); on the page rendered again the row carries it."""

    request = None  # the inline's get_formset binds the request

    def save_row(self, form, action):
        try:
            return action()
        except ApplicationError:
            self.request.service_refusal_row = form.prefix
            raise

    def full_clean(self):
        super().full_clean()
        refusal = getattr(self.request, "service_refusal", None)
        row = getattr(self.request, "service_refusal_row", None)
        for form in self.forms:
            if refusal is not None and form.prefix == row:
                add_refusal_to_form(form, refusal)
