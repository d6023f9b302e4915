"""DRF authentication: `Authorization: Bearer <jwt>` everywhere; `?access_token=` only where a view opts in."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from crm.errors import Unauthorized
from crm.tokens import user_for_access_token


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword or len(header) != 2:
            raise AuthenticationFailed("The Authorization header must be `Bearer <token>`.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("The token is not valid ASCII.") from exc
        return authenticate_token(raw)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class QueryStringTokenAuthentication(BearerTokenAuthentication):
    """`?access_token=<jwt>`: a browser EventSource cannot send headers. Used by the SSE stream only."""

    def authenticate(self, request):
        raw = request.query_params.get("access_token")
        if not raw:
            return None
        return authenticate_token(raw)


def authenticate_token(raw: str):
    try:
        return user_for_access_token(raw)
    except Unauthorized as exc:
        raise AuthenticationFailed(exc.message) from exc
