"""The back-office admins of crm: tenants (settings and secrets), users, and the internal tables.

The tenant scope of every admin lives in crm.admin_base. Writes go through the services, like the API's; the
permissions mirror the API's (tenant settings for owners and admins, user accounts for owners).
"""

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from crm import services
from crm.admin_base import SuperuserOnlyAdminMixin, TenantScopedAdminMixin, acting_user
from crm.models import ACCOUNT_ADMIN_ROLES, IdempotencyKey, Role, Tenant, User
from crm.tenancy import is_tenant_staff, tenant_users

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise  # a lazy label (only in the stubs)

# The write-only secrets of a tenant (SPEC §1): never rendered, only "set" or "not set".
TENANT_SECRETS = {
    "whatsapp_app_secret": _("Секрет приложения WhatsApp"),
    "whatsapp_verify_token": _("Токен проверки WhatsApp"),
}


def manages_tenant(user) -> bool:
    """Tenant settings and secrets are owner and admin business, in the admin as in the API (SPEC §15)."""
    return user.is_superuser or (is_tenant_staff(user) and user.role in ACCOUNT_ADMIN_ROLES)


def _secret_input(label: "str | _StrPromise") -> forms.CharField:
    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    return forms.CharField(label=label, required=False, widget=widget)


class TenantForm(forms.ModelForm):
    """Each secret has a write-only input (empty keeps it) and a checkbox that clears it; neither shows the value."""

    new_whatsapp_app_secret = _secret_input(TENANT_SECRETS["whatsapp_app_secret"])
    clear_whatsapp_app_secret = forms.BooleanField(label=_("Очистить секрет приложения"), required=False)
    new_whatsapp_verify_token = _secret_input(TENANT_SECRETS["whatsapp_verify_token"])
    clear_whatsapp_verify_token = forms.BooleanField(label=_("Очистить токен проверки"), required=False)

    distribution_users = forms.ModelMultipleChoiceField(
        label=_("Распределять заявки между"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Пусто — между всеми активными менеджерами."),
    )

    class Meta:
        model = Tenant
        fields = ["name", "slug", "timezone", "phone_region", "lead_distribution", "renewal_notice_days"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "distribution_users" in self.fields:
            self.fields["distribution_users"].queryset = tenant_users(self.instance.pk).filter(is_active=True)
            self.initial.setdefault("distribution_users", self.instance.distribution_user_ids)
        for name in TENANT_SECRETS:
            if f"new_{name}" in self.fields:
                if getattr(self.instance, name, ""):
                    self.fields[f"new_{name}"].help_text = _("Сейчас: задан. Пустое поле оставляет как есть.")
                else:
                    self.fields[f"new_{name}"].help_text = _("Сейчас: не задан. Пустое поле оставляет как есть.")

    def clean(self):
        cleaned = super().clean()
        for name in TENANT_SECRETS:
            if cleaned.get(f"new_{name}") and cleaned.get(f"clear_{name}"):
                self.add_error(f"clear_{name}", _("Либо новое значение, либо очистить."))
        return cleaned

    def secret_changes(self) -> dict[str, str]:
        """The secrets to write: a new value, or "" for a cleared one."""
        changes = {}
        for name in TENANT_SECRETS:
            if self.cleaned_data.get(f"clear_{name}"):
                changes[name] = ""
            elif self.cleaned_data.get(f"new_{name}"):
                changes[name] = self.cleaned_data[f"new_{name}"]
        return changes


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = TenantForm
    list_display = ["id", "name", "slug", "timezone", "phone_region", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["webhook_key", "created_at"]
    fields = [
        "name",
        "slug",
        "timezone",
        "phone_region",
        "lead_distribution",
        "distribution_users",
        "renewal_notice_days",
        "webhook_key",
        *(f"{prefix}_{name}" for name in TENANT_SECRETS for prefix in ("new", "clear")),
        "created_at",
    ]
    actions = ["rotate_webhook_key"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("slug")
        return readonly

    def has_module_permission(self, request):
        return manages_tenant(request.user)

    def has_view_permission(self, request, obj=None):
        return manages_tenant(request.user)

    def has_change_permission(self, request, obj=None):
        return manages_tenant(request.user)

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if change:
            fields = {
                name: form.cleaned_data[name] for name in form.changed_data if name in services.TENANT_EDITABLE_FIELDS
            }
            if "distribution_users" in form.changed_data:
                fields["distribution_user_ids"] = [user.pk for user in form.cleaned_data["distribution_users"]]
            fields.update(form.secret_changes())
            self.save_with_service(request, lambda: services.tenant_update(tenant=obj, **fields))
            return
        data = {name: form.cleaned_data[name] for name in ("name", "slug", "timezone", "phone_region")}
        created = self.save_with_service(request, lambda: services.tenant_create(**data))
        obj.pk = created.pk
        settings = {name: form.cleaned_data[name] for name in ("lead_distribution", "renewal_notice_days")}
        settings.update(form.secret_changes())
        self.save_with_service(request, lambda: services.tenant_update(tenant=created, **settings))

    @admin.action(description=_("Выпустить новый ключ вебхуков"), permissions=["change"])
    def rotate_webhook_key(self, request, queryset):
        for tenant in queryset:
            services.tenant_rotate_webhook_key(tenant=tenant)
        self.message_user(request, _("Ключи вебхуков обновлены; старые больше не работают."))


class UserCreateForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ["username", "full_name", "email", "role", "tenant"]


@admin.register(User)
class UserAdmin(TenantScopedAdminMixin, DjangoUserAdmin):
    list_display = ["id", "username", "full_name", "email", "role", "tenant", "is_active"]
    list_filter = ["role", "is_active"]
    list_select_related = ["tenant"]
    search_fields = ["username", "full_name", "email"]
    ordering = ["id"]
    add_form = UserCreateForm
    add_fieldsets = [(None, {"fields": ["username", "password", "full_name", "email", "role", "tenant"]})]
    fieldsets = [
        (None, {"fields": ["username", "uuid", "tenant"]}),
        (_("Профиль"), {"fields": ["full_name", "email", "role", "is_active"]}),
        (_("Даты"), {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = ["uuid", "tenant", "last_login", "date_joined"]

    def get_list_filter(self, request):
        return ["tenant", *self.list_filter] if request.user.is_superuser else self.list_filter

    def has_change_permission(self, request, obj=None):
        # Like the API: owners manage accounts; ROPs only look.
        return request.user.is_superuser or (is_tenant_staff(request.user) and request.user.role == Role.OWNER)

    has_add_permission = has_change_permission

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            # Tenant staff create users in their own tenant only: the field is not offered at all.
            return [(None, {"fields": ["username", "password", "full_name", "email", "role"]})]
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        actor = acting_user(request)
        data = form.cleaned_data
        if change:
            fields = {name: data[name] for name in form.changed_data if name in services.USER_EDITABLE_FIELDS}
            self.save_with_service(request, lambda: services.user_update(user=obj, acting_user=actor, **fields))
            return
        tenant = data.get("tenant") if request.user.is_superuser else request.user.tenant
        created = self.save_with_service(
            request,
            lambda: services.user_create(
                tenant=tenant,
                username=data["username"],
                password=data["password"],
                role=data["role"],
                email=data.get("email", ""),
                full_name=data.get("full_name", ""),
                acting_user=actor,
            ),
        )
        obj.pk = created.pk


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(SuperuserOnlyAdminMixin, admin.ModelAdmin):
    """Colleagues' stored v1 responses: platform superusers only, read-only."""

    list_display = ["key", "tenant", "user", "response_status", "created_at"]
    list_select_related = ["tenant", "user"]
    readonly_fields = ["key", "tenant", "user", "request_fingerprint", "response_status", "response_body", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Roles, not groups, carry permissions here: groups stay a platform superuser's tool.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(SuperuserOnlyAdminMixin, DjangoGroupAdmin):
    pass
