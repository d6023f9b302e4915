"""The demo tenant «Demo» for the README's quick start; domain apps add their rows through DEMO_DATA_HOOKS."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from crm import services
from crm.models import Role, Tenant, User
from crm.tenancy import tenant_users

DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo-pass-2025"  # noqa: S105 - a published demo login, printed by the command
DEMO_USERS = [
    ("owner", Role.OWNER, "Ольга Владелец"),
    ("rop", Role.ROP, "Роман Руководитель"),
    ("manager1", Role.MANAGER, "Мария Менеджер"),
    ("manager2", Role.MANAGER, "Максим Менеджер"),
]


@dataclass
class DemoTenant:
    tenant: Tenant
    owner: User
    rop: User
    managers: list[User]


@transaction.atomic
def demo_data_load() -> tuple[DemoTenant, bool]:
    """Create the demo tenant and its people once; returns (demo, created). Safe to run again."""
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    created = tenant is None
    if tenant is None:
        tenant = services.tenant_create(name="Demo", slug=DEMO_SLUG)
        for username, role, full_name in DEMO_USERS:
            services.user_create(
                tenant=tenant,
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                full_name=full_name,
                email=f"{username}@demo.example",
            )
    users = {user.username: user for user in tenant_users(tenant)}
    demo = DemoTenant(
        tenant=tenant,
        owner=users["owner"],
        rop=users["rop"],
        managers=[users["manager1"], users["manager2"]],
    )
    if created:
        for hook_path in settings.DEMO_DATA_HOOKS:
            import_string(hook_path)(demo=demo)
    return demo, created
