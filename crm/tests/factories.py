import factory

from crm.models import Role, Tenant, User

TEST_PASSWORD = "Str0ng-test-pass!"  # noqa: S105


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    tenant = factory.SubFactory(TenantFactory)
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    full_name = factory.LazyAttribute(lambda u: u.username.title())
    role = Role.MANAGER
    is_staff = factory.LazyAttribute(lambda u: u.role in ("owner", "rop"))

    # Hashed before the first save: setting it afterwards would be a password change, which revokes tokens.
    password = factory.django.Password(TEST_PASSWORD)
