"""Writes of the core: tenants and users. The API, the admin and the commands all call these."""

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from crm.errors import Forbidden, ValidationFailed
from crm.models import ACCOUNT_ADMIN_ROLES, STAFF_ROLES, Role, Tenant, User, generate_webhook_key
from crm.service_kit import apply_changes, validate
from crm.tenancy import tenant_users

TENANT_EDITABLE_FIELDS = (
    "name",
    "timezone",
    "phone_region",
    "whatsapp_app_secret",
    "whatsapp_verify_token",
    "lead_distribution",
    "distribution_user_ids",
    "renewal_notice_days",
)
USER_EDITABLE_FIELDS = ("role", "full_name", "email", "is_active", "password")


@transaction.atomic
def tenant_create(
    *,
    name: str,
    slug: str,
    timezone: str = "Europe/Moscow",
    phone_region: str = "RU",
    whatsapp_app_secret: str = "",
    whatsapp_verify_token: str = "",
) -> Tenant:
    """Create a tenant and run the setup hooks of the domain apps (the default pipeline)."""
    tenant = Tenant(
        name=name,
        slug=slug,
        timezone=timezone,
        phone_region=phone_region,
        whatsapp_app_secret=whatsapp_app_secret,
        whatsapp_verify_token=whatsapp_verify_token,
    )
    validate(tenant, exclude=["webhook_key"])
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationFailed.for_field("slug", _("A tenant with slug «%(slug)s» already exists.") % {"slug": slug})
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError as exc:
        raise ValidationFailed.for_field(
            "slug", _("A tenant with slug «%(slug)s» already exists.") % {"slug": slug}
        ) from exc
    # Domain apps plug their per-tenant setup in here; crm itself imports no domain app.
    for hook_path in settings.TENANT_SETUP_HOOKS:
        import_string(hook_path)(tenant=tenant)
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, **fields) -> Tenant:
    """Change tenant settings; secrets are write-only and "" clears one."""
    apply_changes(tenant, TENANT_EDITABLE_FIELDS, fields)
    if "distribution_user_ids" in fields:
        tenant.distribution_user_ids = _distribution_users(tenant, fields["distribution_user_ids"])
    validate(tenant)
    tenant.save(update_fields=list(fields) or None)
    return tenant


def _distribution_users(tenant: Tenant, user_ids) -> list[int]:
    """The users webhook leads go to in turn: distinct active users of the tenant, in the order given."""
    if not isinstance(user_ids, list) or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in user_ids):
        raise ValidationFailed.for_field("distribution_user_ids", _("A list of user ids is expected."))
    if len(set(user_ids)) != len(user_ids):
        raise ValidationFailed.for_field("distribution_user_ids", _("A user may be listed once."))
    active = set(tenant_users(tenant).filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True))
    unknown = [pk for pk in user_ids if pk not in active]
    if unknown:
        raise ValidationFailed.for_field(
            "distribution_user_ids", _("No active user of the tenant with id %(id)s.") % {"id": unknown[0]}
        )
    return user_ids


@transaction.atomic
def tenant_rotate_webhook_key(*, tenant: Tenant) -> str:
    """A new webhook key; the old one stops working at once."""
    tenant.webhook_key = generate_webhook_key()
    tenant.save(update_fields=["webhook_key"])
    return tenant.webhook_key


def _check_may_grant(*, acting_user: User | None, role: str) -> None:
    if acting_user is None:
        return
    if acting_user.role not in ACCOUNT_ADMIN_ROLES:
        raise Forbidden(_("Only an owner or an admin manages users."))
    if role == Role.OWNER and acting_user.role != Role.OWNER:
        raise Forbidden(_("Only an owner may create or promote an owner."))


def _validate_password(password: str, user: User) -> None:
    if not password:
        raise ValidationFailed.for_field("password", _("The password may not be empty."))
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(exc.messages[0], details={"password": exc.messages}) from exc


def _login_string_taken(value: str, *, exclude_pk=None) -> bool:
    """Whether another user already signs in with `value`: as a username (any status) or an active email.

    Usernames and emails are one namespace (login accepts either, SPEC §2), so no one can take another tenant's
    login string; the callers' message is the same whoever holds it, revealing no tenant (SPEC §15).
    """
    holders = User.objects.filter(Q(username__iexact=value) | Q(email__iexact=value, is_active=True))
    return holders.exclude(pk=exclude_pk).exists()


def _lock_login_strings(*values: str) -> None:
    """Serialise claims of the same login strings until commit (the indexes cannot see username-vs-email clashes)."""
    if connection.vendor != "postgresql":
        return  # SQLite allows one writer at a time anyway
    with connection.cursor() as cursor:
        for value in sorted({value.lower() for value in values if value}):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"crm.login:{value}"])


def _check_login_strings(user: User, *, username: str | None = None) -> None:
    _lock_login_strings(username or "", user.email if user.is_active else "")
    if username is not None and _login_string_taken(username, exclude_pk=user.pk):
        raise ValidationFailed.for_field(
            "username", _("The username «%(username)s» is taken.") % {"username": username}
        )
    if user.is_active and user.email and _login_string_taken(user.email, exclude_pk=user.pk):
        raise ValidationFailed.for_field("email", _("The email «%(email)s» is taken.") % {"email": user.email})


def _save_user(user: User) -> None:
    """Save; a unique index that a parallel claim won first still answers 400 naming the field."""
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        if "email" in str(exc):
            raise ValidationFailed.for_field(
                "email", _("The email «%(email)s» is taken.") % {"email": user.email}
            ) from exc
        raise ValidationFailed.for_field(
            "username", _("The username «%(username)s» is taken.") % {"username": user.username}
        ) from exc


@transaction.atomic
def user_create(
    *,
    tenant: Tenant,
    username: str,
    password: str,
    role: str = Role.MANAGER,
    email: str = "",
    full_name: str = "",
    acting_user: User | None = None,
) -> User:
    """Create a user of a tenant. `acting_user` is None for commands; the API passes the caller."""
    _check_may_grant(acting_user=acting_user, role=role)
    user = User(
        tenant=tenant,
        username=username,
        email=email,
        full_name=full_name,
        role=role,
        is_staff=role in STAFF_ROLES,
    )
    validate(user, exclude=["password"])
    _check_login_strings(user, username=username)
    _validate_password(password, user)
    user.set_password(password)
    _save_user(user)
    return user


@transaction.atomic
def user_update(*, user: User, acting_user: User | None = None, **fields) -> User:
    """Change a user's role, name, email, activity or password. Users are deactivated, never deleted.

    A password, role or activity change revokes the user's tokens (User.save).
    """
    _lock_active_owners(user.tenant_id)
    user = User.objects.select_for_update().get(pk=user.pk)
    if acting_user is not None:
        _check_may_grant(acting_user=acting_user, role=fields.get("role", user.role))
        if user.role == Role.OWNER and acting_user.role != Role.OWNER:
            raise Forbidden(_("Only an owner may change an owner's account."))
    was_active_owner = user.role == Role.OWNER and user.is_active
    password = fields.pop("password", None)
    apply_changes(user, USER_EDITABLE_FIELDS, fields)
    user.is_staff = user.role in STAFF_ROLES
    validate(user, exclude=["password"])
    if "email" in fields or "is_active" in fields:
        _check_login_strings(user)
    if was_active_owner:
        _ensure_an_active_owner_remains(user)
    if password is not None:
        _validate_password(password, user)
        user.set_password(password)
    _save_user(user)
    return user


def _lock_active_owners(tenant_id: int | None) -> None:
    """Lock the tenant's active owners first (always in id order), so two owners deactivating or demoting each other
    at once serialise: the second one sees the first one's change and is refused as the last owner."""
    if tenant_id is not None:
        owners = User.objects.select_for_update().filter(tenant_id=tenant_id, role=Role.OWNER, is_active=True)
        list(owners.order_by("pk").values_list("pk", flat=True))


def _ensure_an_active_owner_remains(user: User) -> None:
    if user.role == Role.OWNER and user.is_active:
        return
    # django-stubs refuses None in a lookup, which Django reads as IS NULL.
    others = User.objects.filter(tenant_id=user.tenant_id, role=Role.OWNER, is_active=True).exclude(pk=user.pk)  # type: ignore[misc]
    if not others.exists():
        field = "is_active" if not user.is_active else "role"
        raise ValidationFailed.for_field(field, _("The tenant must keep at least one active owner."))
