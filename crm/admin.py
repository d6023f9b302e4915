"""The back-office: `TenantScopedAdmin` is the base of every tenant-owned model admin.

Staff owners and ROPs see and edit only their tenant's rows (querysets, foreign-key choices and
autocomplete included); superusers see everything. Writes go through the services, like the API's.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from crm import services
from crm.errors import ApplicationError
from crm.models import STAFF_ROLES, IdempotencyKey, Role, Tenant, User


def is_tenant_staff(user) -> bool:
    return bool(user.is_active and user.is_staff and user.tenant_id and user.role in STAFF_ROLES)


class TenantScopedAdminMixin:
    """Limits an admin (or inline) to the staff user's tenant; superusers bypass it."""

    tenant_field = "tenant"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_field}_id": request.user.tenant_id})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and not request.user.is_superuser:
            related = db_field.related_model
            if related is Tenant:
                field.queryset = field.queryset.filter(pk=request.user.tenant_id)
            elif any(f.name == "tenant" for f in related._meta.get_fields()):
                field.queryset = field.queryset.filter(tenant_id=request.user.tenant_id)
        return field

    def has_module_permission(self, request):
        return request.user.is_superuser or is_tenant_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or is_tenant_staff(request.user)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser or is_tenant_staff(request.user)

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser or is_tenant_staff(request.user)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete widgets search through here: keep them inside the tenant too.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not request.user.is_superuser:
            queryset = queryset.filter(**{f"{self.tenant_field}_id": request.user.tenant_id})
        return queryset, may_have_duplicates

    def save_with_service(self, request, action):
        """Run a service call; a rule it enforces becomes an admin error message, not a 500."""
        try:
            return action()
        except ApplicationError as exc:
            self.message_user(request, f"{exc.message} {exc.details or ''}".strip(), level=messages.ERROR)
            return None


class TenantScopedReadOnlyInline(TenantScopedAdminMixin, admin.TabularInline):
    """Rows shown on their parent's page, never edited there: changes go through the services elsewhere."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TenantScopedAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        if not change and not request.user.is_superuser and hasattr(obj, "tenant_id"):
            obj.tenant_id = request.user.tenant_id
        super().save_model(request, obj, form, change)

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            excluded.append("tenant")
        return excluded


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "name", "slug", "timezone", "phone_region", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["webhook_key", "created_at"]
    fields = [
        "name",
        "slug",
        "timezone",
        "phone_region",
        "webhook_key",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "created_at",
    ]
    actions = ["rotate_webhook_key"]
    tenant_field = "id"

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return queryset if request.user.is_superuser else queryset.filter(pk=request.user.tenant_id)

    def get_search_results(self, request, queryset, search_term):
        return admin.ModelAdmin.get_search_results(self, request, queryset, search_term)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("slug")
        return readonly

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if change:
            fields = {
                name: form.cleaned_data[name] for name in form.changed_data if name in services.TENANT_EDITABLE_FIELDS
            }
            self.save_with_service(request, lambda: services.tenant_update(tenant=obj, **fields))
        else:
            data = {name: form.cleaned_data[name] for name in ("name", "slug", "timezone", "phone_region")}
            created = self.save_with_service(request, lambda: services.tenant_create(**data))
            if created is not None:
                obj.pk = created.pk

    @admin.action(description="Выпустить новый ключ вебхуков")
    def rotate_webhook_key(self, request, queryset):
        for tenant in queryset:
            services.tenant_rotate_webhook_key(tenant=tenant)
        self.message_user(request, "Ключи вебхуков обновлены; старые больше не работают.")


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
        ("Профиль", {"fields": ["full_name", "email", "role", "is_active"]}),
        ("Даты", {"fields": ["last_login", "date_joined"]}),
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
        acting_user = None if request.user.is_superuser else request.user
        data = form.cleaned_data
        if change:
            fields = {name: data[name] for name in form.changed_data if name in services.USER_EDITABLE_FIELDS}
            self.save_with_service(request, lambda: services.user_update(user=obj, acting_user=acting_user, **fields))
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
                acting_user=acting_user,
            ),
        )
        if created is not None:
            obj.pk = created.pk


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["key", "tenant", "user", "response_status", "created_at"]
    list_select_related = ["tenant", "user"]
    readonly_fields = ["key", "tenant", "user", "request_fingerprint", "response_status", "response_body", "created_at"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None):
        return False
