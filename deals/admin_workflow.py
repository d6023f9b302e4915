"""The deal page's own work: a button per allowed next status and a journal note, both through the services.

`DealWorkflowMixin` (for the deal admin) adds two POST-only pages under the deal, `…/status/` and `…/journal/`.
Each finds the deal through the admin's own queryset (tenant and, for a manager, their deals: 404 otherwise), needs
the change permission (403), calls the service the API calls and comes back to the deal page with the outcome in
Russian. The status form carries the deal's version from when the page was opened, so a click on a page another
user has since changed is refused (crm.versions) instead of moving a deal the clicker has not seen.
"""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from crm.admin_refusals import refusal_text
from crm.errors import ApplicationError
from crm.versions import MAX_VERSION, Expected
from deals import services
from deals.models import DEAL_TRANSITIONS, Calculation, DealStatus, DealTask, Payment, Policy

ADD_LABELS: dict[type[Model], str | Promise] = {
    Calculation: _("Добавить расчёт"),
    Policy: _("Добавить полис"),
    Payment: _("Добавить платёж"),
    DealTask: _("Добавить задачу"),
}


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=DealStatus.choices)
    version = forms.IntegerField(min_value=1, max_value=MAX_VERSION)


class NoteForm(forms.Form):
    text = forms.CharField(max_length=10_000, strip=True)


def next_statuses(deal) -> list[DealStatus]:
    """The statuses the deal may move to now, in the statuses' own order."""
    allowed = DEAL_TRANSITIONS[deal.status]
    return [status for status in DealStatus if status in allowed]


class DealWorkflowMixin:
    # The ModelAdmin's, which this mixin is mixed into.
    admin_site: AdminSite
    message_user: Callable[..., None]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/status/", view(require_POST(self.status_view)), name="deals_deal_status"),
            path("<path:object_id>/journal/", view(require_POST(self.journal_view)), name="deals_deal_journal"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        deal = self.get_object(request, object_id)
        if deal is not None and self.has_change_permission(request, deal):
            extra_context = {
                **(extra_context or {}),
                "next_statuses": next_statuses(deal),
                "deal_version": deal.version,
                "status_url": reverse("admin:deals_deal_status", args=[deal.pk]),
                "journal_url": reverse("admin:deals_deal_journal", args=[deal.pk]),
                "add_links": self._add_links(request, deal),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _add_links(self, request, deal) -> list[tuple[str | Promise, str]]:
        """«Добавить расчёт» and the like: the add pages of the deal's objects, with this deal chosen."""
        links: list[tuple[str | Promise, str]] = []
        for model, label in ADD_LABELS.items():
            model_admin = self.admin_site.get_model_admin(model)
            if model_admin.has_add_permission(request):
                opts = model._meta
                links.append((label, f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_add')}?deal={deal.pk}"))
        return links

    def _deal_for_work(self, request, object_id):
        deal = self.get_object(request, object_id)
        if deal is None:
            raise Http404(_("Нет такой сделки."))
        if not self.has_change_permission(request, deal):
            raise PermissionDenied
        return deal

    def _done(self, request, deal, action, success: str | Promise):
        try:
            action()
        except ApplicationError as exc:
            self.message_user(request, refusal_text(exc), level=messages.ERROR)
        else:
            self.message_user(request, success, level=messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:deals_deal_change", args=[deal.pk]))

    def status_view(self, request, object_id):
        deal = self._deal_for_work(request, object_id)
        form = StatusForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Статус не изменён: неверный запрос."), level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:deals_deal_change", args=[deal.pk]))
        target = DealStatus(form.cleaned_data["status"])
        if target not in next_statuses(deal):
            message = _("Из статуса «%(current)s» нельзя перейти в «%(target)s».") % {
                "current": deal.get_status_display(),
                "target": target.label,
            }
            self.message_user(request, message, level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:deals_deal_change", args=[deal.pk]))
        expected = Expected(if_match=form.cleaned_data["version"])
        return self._done(
            request,
            deal,
            lambda: services.deal_transition(deal=deal, status=target, acting_user=request.user, expected=expected),
            _("Статус сделки: «%(status)s».") % {"status": target.label},
        )

    def journal_view(self, request, object_id):
        deal = self._deal_for_work(request, object_id)
        form = NoteForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Заметка пуста или длиннее 10 000 символов."), level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:deals_deal_change", args=[deal.pk]))
        text = form.cleaned_data["text"]
        return self._done(
            request,
            deal,
            lambda: services.journal_entry_create(deal=deal, acting_user=request.user, text=text),
            _("Заметка добавлена в журнал."),
        )
