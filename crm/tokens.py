"""JWTs: our own access/refresh tokens (simplejwt) and the rules every access token must satisfy (SPEC §2).

Gateway tokens and ours are checked by the same function: signature and `exp` by simplejwt's backend with the
configured algorithm only (so `alg: none` and algorithm swaps fail), then the claims: `tenant_id`, the user as
`sub` (uuid) or `user_id`, `token_type` = access when present, an active user of that tenant, not revoked since.

Revocation (SPEC §15): a password, role or activity change bumps `User.token_version` (crm.models.User.save).
Our tokens carry it as the `token_version` claim and must match it. Gateway tokens carry no such claim: they are
refused when issued (`iat`) before the user's `tokens_revoked_at`, or carry no `iat` once the user has one.
"""

import uuid
from datetime import UTC, datetime

from django.conf import settings
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from crm.errors import Unauthorized
from crm.models import User


def token_backend() -> TokenBackend:
    """Built from the current settings (not cached at import) so deployments and tests can switch keys."""
    api_settings = simplejwt_settings.api_settings  # rebound by simplejwt when SIMPLE_JWT changes
    return TokenBackend(
        api_settings.ALGORITHM,
        api_settings.SIGNING_KEY,
        api_settings.VERIFYING_KEY or None,  # type: ignore[arg-type]  # simplejwt says str; its _prepare_key takes None
        leeway=api_settings.LEEWAY,
    )


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
        payload = token_backend().decode(raw, verify=True)  # type: ignore[arg-type]  # the encoded str, as above
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
    lookup = _user_lookup(payload)
    user = User.objects.select_related("tenant").filter(is_active=True, **lookup).first()
    if user is None or user.tenant_id is None or user.tenant_id != int(tenant_id):
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


def _user_lookup(payload: dict) -> dict:
    sub = payload.get("sub")
    if sub is not None:
        try:
            return {"uuid": uuid.UUID(str(sub))}
        except ValueError as exc:
            raise Unauthorized("The token's sub is not a user uuid.") from exc
    user_id = payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or not str(user_id).isdigit():
        raise Unauthorized("The token names no user.")
    return {"pk": int(user_id)}
