"""JWTs: our own access/refresh tokens (simplejwt) and the rules every access token must satisfy (SPEC §2).

Gateway tokens and ours are checked by the same function: signature and `exp` by simplejwt's backend with the
configured algorithm only (so `alg: none` and algorithm swaps fail), then the claims: `tenant_id`, the user as
`sub` (uuid) or `user_id`, `token_type` = access when present, an active user of that tenant, not revoked since.

Revocation (SPEC §15): a password, role or activity change bumps `User.token_version` (crm.models.User.save).
Our tokens carry it as the `token_version` claim and must match it. Gateway tokens carry no such claim: they are
refused when issued (`iat`) before the user's `tokens_revoked_at`, or carry no `iat` once the user has one.
"""

import functools
import time
import uuid
import weakref
from datetime import UTC, datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from crm.auth_rows import cached_row
from crm.bounds import MAX_BIGINT
from crm.errors import Unauthorized
from crm.models import Tenant, User


def token_backend() -> TokenBackend:
    """For the current settings (read on each call, not at import) so deployments and tests can switch keys."""
    api_settings = simplejwt_settings.api_settings  # rebound by simplejwt when SIMPLE_JWT changes
    return _token_backend(
        api_settings.ALGORITHM, api_settings.SIGNING_KEY, api_settings.VERIFYING_KEY or None, api_settings.LEEWAY
    )


@functools.lru_cache(maxsize=8)
def _token_backend(algorithm, signing_key, verifying_key, leeway) -> TokenBackend:
    # Built once per key set: every API request decodes a token, and building the backend prepares its keys.
    return TokenBackend(algorithm, signing_key, verifying_key, leeway=leeway)


def verified_claims(raw: str) -> dict:
    """The claims of a token the current key set signed, if its time claims (exp, nbf, iat) hold now.

    Raises TokenBackendError otherwise, as the backend's own decode does.
    """
    backend = token_backend()
    claims = _signed_claims(backend, raw)
    now, leeway = time.time(), backend.get_leeway().total_seconds()
    if "exp" in claims and int(claims["exp"]) <= now - leeway:
        raise TokenBackendError("Token is expired")
    if any(name in claims and int(claims[name]) > now + leeway for name in ("nbf", "iat")):
        raise TokenBackendError("Token is not yet valid")
    return dict(claims)  # a copy: the cached claims are shared by every request carrying this token


@functools.lru_cache(maxsize=4096)
def _signed_claims(backend: TokenBackend, raw: str) -> dict:
    # A token's signature and claims cannot change under one key set, so each token is verified (HMAC or RSA, two
    # JSON parses) once per process and key set; only its time claims need checking on every use (verified_claims).
    # A token that fails raises, and is not cached.
    return backend.decode(raw, verify=True)  # type: ignore[arg-type]  # the encoded str, as simplejwt's own callers


class _CurrentBackendMixin:
    def get_token_backend(self) -> TokenBackend:
        return token_backend()


class CrmAccessToken(_CurrentBackendMixin, AccessToken):
    pass


# simplejwt's own bases disagree on for_user's signature.
class CrmRefreshToken(_CurrentBackendMixin, RefreshToken):  # type: ignore[misc]
    access_token_class = CrmAccessToken


TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105 - a claim name, not a secret


def _add_claims(token, user: User) -> None:
    token["tenant_id"] = user.tenant_id
    token["role"] = user.role
    token[TOKEN_VERSION_CLAIM] = user.token_version


def issue_token_pair(user: User) -> dict[str, str]:
    refresh = CrmRefreshToken.for_user(user)
    _add_claims(refresh, user)
    access = refresh.access_token
    _add_claims(access, user)
    return {"access": str(access), "refresh": str(refresh)}


def refresh_access_token(raw_refresh: str) -> str:
    try:
        refresh = CrmRefreshToken(raw_refresh)  # type: ignore[arg-type]  # simplejwt says Token; it takes the str
    except TokenError as exc:
        raise Unauthorized("The refresh token is invalid or expired.") from exc
    user = _load_user(refresh.payload)
    access = refresh.access_token
    _add_claims(access, user)
    return str(access)


def user_for_access_token(raw: str) -> tuple[User, dict]:
    """Return the user and claims of a valid access token, else raise Unauthorized."""
    try:
        payload = verified_claims(raw)
    except TokenBackendError as exc:
        raise Unauthorized("The token is invalid or expired.") from exc
    if "exp" not in payload:
        raise Unauthorized("The token has no expiry.")
    token_type = payload.get(simplejwt_settings.api_settings.TOKEN_TYPE_CLAIM)
    if token_type is not None and token_type != "access":  # noqa: S105 - a claim value, not a secret
        raise Unauthorized("Only access tokens are accepted here.")
    return _load_user(payload), payload


def _load_user(payload: dict) -> User:
    tenant_id = payload.get("tenant_id")
    if isinstance(tenant_id, bool) or not isinstance(tenant_id, int | str) or not str(tenant_id).isdigit():
        raise Unauthorized("The token carries no valid tenant_id.")
    user = _active_user_with_tenant(*_user_lookup(payload))
    if user is None or user.tenant_id != int(tenant_id):
        raise Unauthorized("The token does not name an active user of its tenant.")
    if _revoked(payload, user):
        raise Unauthorized("The token was revoked: the user's password, role or status changed.")
    return user


def _revoked(payload: dict, user: User) -> bool:
    version = payload.get(TOKEN_VERSION_CLAIM)
    if version is not None:
        return isinstance(version, bool) or version != user.token_version
    if user.tokens_revoked_at is None:
        return False
    issued_at = payload.get("iat")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        return True
    try:
        issued = datetime.fromtimestamp(issued_at, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return True
    # `iat` has whole seconds: a token of the revocation's own second is refused too (fail closed).
    return issued <= user.tokens_revoked_at


def _user_lookup(payload: dict) -> tuple[str, int | uuid.UUID]:
    """The user field the token names (`uuid` for `sub`, else `id` for `user_id`) and its value."""
    sub = payload.get("sub")
    if sub is not None:
        try:
            return "uuid", uuid.UUID(str(sub))
        except ValueError as exc:
            raise Unauthorized("The token's sub is not a user uuid.") from exc
    user_id = payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or not str(user_id).isdigit():
        raise Unauthorized("The token names no user.")
    return "id", int(user_id)


def _active_user_with_tenant(field_name: str, value: int | uuid.UUID) -> User | None:
    """The active user with this `id` or `uuid`, with their tenant, in one statement (None without a tenant), or
    from this process's cache of such rows, which every change to them invalidates (crm.auth_rows).

    Every API request runs this, so it skips the ORM's query building (a quarter of a request's CPU when it was
    `select_related("tenant").filter(...)`): the statement is written once per field from `_meta`, and the values go
    through the same database converters and `Model.from_db` the ORM uses, so the instances are the ORM's.
    """
    if isinstance(value, int) and value > MAX_BIGINT:
        return None  # no such id; SQLite could not even bind it
    sql, user_fields, tenant_fields = _user_with_tenant_statement(field_name)
    lookup_field = User._meta.get_field(field_name)
    assert isinstance(lookup_field, Field)  # id or uuid, never a relation
    param = lookup_field.get_db_prep_value(value, connection)

    def read() -> tuple | None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [param])
            return cursor.fetchone()

    # Raw values (str, numbers, datetimes): each request converts its own, so no request shares a mutable value.
    row = cached_row((field_name, value), read)
    if row is None:
        return None
    values = [
        _converted(value, column, converters)
        for value, (column, converters) in zip(row, _columns(connections[DEFAULT_DB_ALIAS]), strict=True)
    ]
    user = User.from_db(DEFAULT_DB_ALIAS, [field.attname for field in user_fields], values[: len(user_fields)])
    tenant = Tenant.from_db(DEFAULT_DB_ALIAS, [field.attname for field in tenant_fields], values[len(user_fields) :])
    User._meta.get_field("tenant").set_cached_value(user, tenant)
    return user


@functools.cache
def _user_with_tenant_statement(field_name: str) -> tuple[str, tuple, tuple]:
    def column(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    user_fields, tenant_fields = tuple(User._meta.concrete_fields), tuple(Tenant._meta.concrete_fields)
    columns = [f"u.{column(User, field.name)}" for field in user_fields]
    columns += [f"t.{column(Tenant, field.name)}" for field in tenant_fields]
    users, tenants = (connection.ops.quote_name(model._meta.db_table) for model in (User, Tenant))
    # Identifiers from _meta only; the value is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {users} u"  # noqa: S608
        f" JOIN {tenants} t ON t.{column(Tenant, 'id')} = u.{column(User, 'tenant')}"
        f" WHERE u.{column(User, field_name)} = %s AND u.{column(User, 'is_active')}"
    )
    return sql, user_fields, tenant_fields


def _converted(value, column, converters):
    for converter in converters:
        value = converter(value, column, connection)
    return value


# Per connection (each thread has its own), as the ORM's compiler asks each query.
_columns_by_connection: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _columns(db_connection) -> list:
    """(column, converters) of each selected field: what turns a raw value into the ORM's (JSON parsed, SQLite's
    text datetimes as datetimes)."""
    columns = _columns_by_connection.get(db_connection)
    if columns is None:
        columns = _columns_by_connection[db_connection] = []
        for field in (*User._meta.concrete_fields, *Tenant._meta.concrete_fields):
            column = field.get_col(field.model._meta.db_table)
            converters = [*db_connection.ops.get_db_converters(column), *column.get_db_converters(db_connection)]
            columns.append((column, converters))
    return columns
