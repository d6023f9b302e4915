"""The back-office of outbound webhooks (SPEC §14): a tenant's subscriptions and their delivery log.

Owner and admin business, in the admin as in the API (rop and managers get 403; platform superusers see every
tenant's). Every write goes through events.webhooks.services, like the API's: the secret is shown once, on the page
that answers the create; a URL the SSRF check refuses comes back as an error on the URL field; deleting a
subscription deletes its log. The delivery log is a read-only list (filtered by subscription from the subscription's
page), with the replay from a chosen attempt's event as its action.
"""

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.admin import manages_tenant
from crm.admin_base import TenantRelatedFieldListFilter, TenantScopedAdmin
from events.models import WebhookDelivery, WebhookSubscription
from events.webhooks import log, services

_EDITABLE = ("url", "events", "description", "is_active")


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.CharField(label="URL", max_length=2000, help_text=_("https://… — куда отправлять события."))
    events = forms.MultipleChoiceField(
        label=_("События"), choices=[(name, name) for name in log.EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["tenant", *_EDITABLE]
        labels = {"description": _("Описание"), "is_active": _("Активна")}
        help_texts = {"is_active": _("Включённая снова подписка доставит накопленные события, начиная с непрошедшего.")}


class WebhookAdminPermissions:
    """Whoever manages the tenant's account (crm.admin.manages_tenant: owners, admins; of them only owners are
    back-office staff) and platform superusers; rop and managers get 403 on every page."""

    def has_module_permission(self, request):
        return manages_tenant(request.user)

    def has_view_permission(self, request, obj=None):
        return manages_tenant(request.user)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(WebhookAdminPermissions, TenantScopedAdmin):
    form = WebhookSubscriptionForm
    list_display = ["id", "url", "event_list", "is_active", "disabled_reason", "tenant", "created_at"]
    list_select_related = ["tenant"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    ordering = ["-created_at", "-id"]
    readonly_fields = ["disabled_reason", "attempts", "next_attempt_at", "created_at", "delivery_log"]

    def has_add_permission(self, request):
        return manages_tenant(request.user)

    def has_change_permission(self, request, obj=None):
        return manages_tenant(request.user)

    def has_delete_permission(self, request, obj=None):
        return manages_tenant(request.user)

    def get_fields(self, request, obj=None):
        fields = ["url", "events", "description"]
        if obj is None:  # a new subscription is active; its tenant is the user's (a superuser picks one)
            return ["tenant", *fields] if request.user.is_superuser else fields
        return [*fields, "is_active", *self.readonly_fields]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, from the subscription's page
        return actions

    @admin.display(description=_("События"))
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description=_("Журнал доставок"))
    def delivery_log(self, obj):
        url = reverse("admin:events_webhookdelivery_changelist")
        return format_html('<a href="{}?subscription__id__exact={}">{}</a>', url, obj.pk, _("Попытки доставки"))

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in _EDITABLE}
            self.save_with_service(request, lambda: services.subscription_update(subscription=obj, **fields))
            return
        tenant = form.cleaned_data["tenant"] if request.user.is_superuser else request.user.tenant
        data = {name: form.cleaned_data[name] for name in ("url", "events", "description")}
        created, secret = self.save_with_service(request, lambda: services.subscription_create(tenant=tenant, **data))
        obj.pk, obj.secret = created.pk, secret

    def response_add(self, request, obj, post_url_continue=None):
        """The secret, once: this page is the only place it is ever shown (the admin's pages are never cached)."""
        context = {
            **self.admin_site.each_context(request),
            "title": _("Подписка создана"),
            "opts": self.opts,
            "subscription": obj,
            "secret": obj.secret,
            "change_url": reverse("admin:events_webhooksubscription_change", args=[obj.pk]),
            "changelist_url": reverse("admin:events_webhooksubscription_changelist"),
        }
        return TemplateResponse(request, "admin/events/webhooksubscription/secret.html", context)

    def delete_model(self, request, obj):
        services.subscription_delete(subscription=obj)

    def get_deleted_objects(self, objs, request):
        """The subscription and how many log rows go with it, rather than each attempt as a line of its own (the log
        is read-only, so nobody holds a permission to delete its rows one by one)."""
        subscriptions = list(objs)
        deliveries = sum(subscription.deliveries.count() for subscription in subscriptions)
        counts = {self.opts.verbose_name_plural: len(subscriptions)}
        if deliveries:
            counts[WebhookDelivery._meta.verbose_name_plural] = deliveries
        return [str(subscription) for subscription in subscriptions], counts, set(), []


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(WebhookAdminPermissions, TenantScopedAdmin):
    """One row per attempt, newest first; nothing here is edited."""

    list_display = [
        "created_at",
        "subscription",
        "event_id",
        "event_type",
        "attempt",
        "status",
        "response_status",
        "duration_ms",
        "error",
        "next_attempt_at",
    ]
    list_select_related = ["subscription"]
    list_filter = ["status", ("subscription", TenantRelatedFieldListFilter)]
    search_fields = ["event_id"]
    ordering = ["-created_at", "-id"]
    actions = ["replay_from_event"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return manages_tenant(request.user)

    @admin.action(description=_("Повторить с события"), permissions=["replay"])
    def replay_from_event(self, request, queryset):
        """Each chosen attempt's subscription delivers again every subscribed event from the earliest chosen one on,
        in log order (events.webhooks.services.subscription_replay)."""
        since = {}  # subscription id → (position, event id, subscription)
        for row in queryset.select_related("subscription"):
            position = log.parse_event_id(row.event_id, row.tenant_id) or 0
            if row.subscription_id not in since or position < since[row.subscription_id][0]:
                since[row.subscription_id] = (position, row.event_id, row.subscription)
        self.run_per_row(
            request,
            [subscription for _, _, subscription in since.values()],
            lambda subscription: services.subscription_replay(
                subscription=subscription, since_event_id=since[subscription.pk][1]
            ),
            _("Доставка повторяется"),
        )
