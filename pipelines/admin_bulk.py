"""Bulk actions on the lead list: assign the selected leads, or move them to a stage (with a loss reason when the
stage is a lost one), through the services.

Each action first shows a page with the selected leads and a choice (an assignee, a stage grouped by pipeline);
applying it runs the service per lead (history, `lead_updated`, the role checks) and reports each refused lead by
name (crm.admin_refusals). The choices come from the admin's own scoped field querysets: a foreign id is not a
valid choice. Assigning is a supervisor's action (the API's rule), so managers are not offered it.
"""

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import AdminSite, helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from crm.admin_base import acting_user
from crm.tenancy import sees_whole_tenant
from pipelines import services
from pipelines.models import Lead

TEMPLATE = "admin/pipelines/lead/bulk_action.html"


class AssignForm(forms.Form):
    assignee: "forms.ModelChoiceField[Any]" = forms.ModelChoiceField(queryset=None, label=_("Ответственный"))


class MoveForm(forms.Form):
    stage: "forms.ModelChoiceField[Any]" = forms.ModelChoiceField(queryset=None, label=_("Стадия"))
    loss_reason: "forms.ModelChoiceField[Any]" = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Причина отказа"), help_text=_("Только для стадии с исходом «Отказ».")
    )

    def clean(self):
        data = super().clean()
        if data.get("loss_reason") and data.get("stage") and not data["stage"].is_lost:
            self.add_error("loss_reason", _("Причина отказа указывается только при переводе на стадию «Отказ»."))
        return data


class LeadBulkActionsMixin:
    actions: Sequence[Any] = ["assign_leads", "move_leads_to_stage"]
    # The ModelAdmin's, which this mixin is mixed into.
    admin_site: AdminSite
    model: type[Lead]

    def has_assign_permission(self, request):
        return self.has_change_permission(request) and sees_whole_tenant(request.user)

    def _confirm(self, request, queryset, form, title: str, action: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "leads": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, TEMPLATE, context)

    @admin.action(description=_("Назначить ответственного…"), permissions=["assign"])
    def assign_leads(self, request, queryset):
        users = self.get_field_queryset(None, Lead._meta.get_field("assigned_to"), request)
        form = AssignForm(request.POST if "apply" in request.POST else None)
        form.fields["assignee"].queryset = users.filter(is_active=True).order_by("full_name", "username")
        if not form.is_valid():
            return self._confirm(request, queryset, form, _("Назначить ответственного"), "assign_leads")
        assignee = form.cleaned_data["assignee"]
        self.run_per_row(
            request,
            queryset,
            lambda lead: services.lead_update(lead=lead, acting_user=acting_user(request), assigned_to=assignee),
            _("Ответственный «%(user)s»") % {"user": assignee},
        )
        return None

    @admin.action(description=_("Перевести на стадию…"), permissions=["change"])
    def move_leads_to_stage(self, request, queryset):
        form = MoveForm(request.POST if "apply" in request.POST else None)
        # The lead form's stage field: grouped by pipeline, default pipeline first, scoped to the tenant.
        form.fields["stage"] = self.formfield_for_foreignkey(Lead._meta.get_field("stage"), request)
        form.fields["stage"].label = _("Стадия")
        reasons = self.get_field_queryset(None, Lead._meta.get_field("loss_reason"), request)
        form.fields["loss_reason"].queryset = reasons.filter(is_active=True).order_by("name")
        if not form.is_valid():
            return self._confirm(request, queryset, form, _("Перевести на стадию"), "move_leads_to_stage")
        stage, reason = form.cleaned_data["stage"], form.cleaned_data["loss_reason"]
        self.run_per_row(
            request,
            queryset,
            lambda lead: services.lead_move_to_stage(
                lead=lead, stage=stage, loss_reason=reason, acting_user=acting_user(request)
            ),
            (
                _("На стадии «%(stage)s», причина отказа «%(reason)s»") % {"stage": stage, "reason": reason}
                if reason
                else _("На стадии «%(stage)s»") % {"stage": stage}
            ),
        )
        return None
