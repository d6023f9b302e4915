"""`GET /api/events/stream`: the realtime lead events (SPEC §8, seed 000 §3)."""

import dataclasses
import time
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest, StreamingHttpResponse
from django_eventstream.utils import add_default_headers
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import MethodNotAllowed, Throttled
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from crm.api.authentication import BearerTokenAuthentication, QueryStringTokenAuthentication
from crm.api.renderers import JSONRenderer
from crm.errors import Unauthorized
from crm.models import User
from crm.tenancy import may_enter_backoffice
from crm.tokens import user_for_access_token
from events import slots
from events.channels import channels_for_user
from events.grip import (
    GripContinuationAuthentication,
    continuation_end_response,
    continuation_expired,
    grip_response,
)
from events.stream import EventStream, Subscription, parse_resume, run_db

STREAM_DESCRIPTION = """\
Server-sent events (`text/event-stream`). Authenticate with `Authorization: Bearer <access token>`, or with
`?access_token=<access token>` where headers cannot be set (a browser `EventSource`), or with the admin session of
staff (the back-office board). Events, each `data:` line a JSON object `{"event": <name>, "data": {...}}`:

- `connected` at once, with an `id:`: `{"event": "connected", "data": {"user_id": 3, "tenant_id": 1}}`;
- `lead_created`, `lead_updated`: `{"event": "lead_updated", "data": {"lead_id": 123, "tenant_id": 1}}`
  (supervisors get every lead of the tenant, managers the leads assigned to them);
- `ping` after `EVENTS_PING_SECONDS` (30) of silence: `{"event": "ping", "data": {}}`;
- `stream-reset`: the position in `Last-Event-ID` is older than the 24 h kept, or unknown: refetch `GET /api/leads`.

Reconnect with `Last-Event-ID` (or `?lastEventId=`) set to the last `id:` received to get what was missed; a value
that is no event id is a 400. The stream ends when the access token expires, and within `EVENTS_USER_RECHECK_SECONDS`
(30) of the user's access being revoked or changed (a last `stream-error` `unauthorized`); reconnect with a fresh
token and the last id. At most `EVENTS_MAX_STREAMS_PER_USER` (10) streams per user and
`EVENTS_MAX_STREAMS_PER_TENANT` (500) per tenant are open at once: beyond, 429 `rate_limited` with `Retry-After`.
"""


class StaffSessionAuthentication(SessionAuthentication):
    """The Django admin's session, for staff of a tenant (the back-office board).

    DRF checks CSRF for session-authenticated requests, and this view answers GET only, which is read-only:
    a cross-site page can open the stream but cannot read it (no CORS for other origins) and cannot change anything.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not may_enter_backoffice(result[0]) or result[0].tenant_id is None:
            return None
        return result


class StaffSessionAuthenticationExtension(OpenApiAuthenticationExtension):
    target_class = StaffSessionAuthentication
    name = "adminSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}


class GripContinuationAuthenticationExtension(OpenApiAuthenticationExtension):
    """Pushpin's internal follow-up requests are no way for a client to authenticate: left out of the schema."""

    target_class = GripContinuationAuthentication
    name: list = []

    def get_security_requirement(self, auto_schema):
        return []

    def get_security_definition(self, auto_schema):
        return []


class JsonErrorsNegotiation(BaseContentNegotiation):
    """Errors are the JSON envelope even when the client asks for `text/event-stream` (an EventSource always does)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class EventStreamView(APIView):
    """An async APIView: a stream holds no thread while it waits (DRF's own dispatch is sync only)."""

    authentication_classes = [
        BearerTokenAuthentication,
        QueryStringTokenAuthentication,
        StaffSessionAuthentication,
        GripContinuationAuthentication,
    ]
    permission_classes = [IsAuthenticated]
    # Not rate-limited per request: open streams are capped per user and tenant instead (events.slots).
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonErrorsNegotiation
    http_method_names = ["get"]

    async def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            if request.method.lower() not in self.http_method_names:
                raise MethodNotAllowed(request.method)
            response = await self.get(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF's contract: every exception becomes the envelope
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    @extend_schema(
        tags=["Events"],
        summary="Realtime lead events (server-sent events)",
        description=STREAM_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Resume after this event id (the last `id:` received).",
            ),
            OpenApiParameter(
                "lastEventId", OpenApiTypes.STR, OpenApiParameter.QUERY, description="Same as `Last-Event-ID`."
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="An endless event stream.",
                examples=[
                    OpenApiExample(
                        "Events",
                        value=(
                            "event: connected\nid: tenant-1:41\n"
                            'data: {"event": "connected", "data": {"user_id": 3, "tenant_id": 1}}\n\n'
                            "event: lead_created\nid: tenant-1:42\n"
                            'data: {"event": "lead_created", "data": {"lead_id": 123, "tenant_id": 1}}\n\n'
                            'event: ping\ndata: {"event": "ping", "data": {}}\n\n'
                        ),
                    )
                ],
            ),
            400: OpenApiResponse(description="`Last-Event-ID` is no event id: the error envelope, `validation_error`."),
            401: OpenApiResponse(description="No valid token: the error envelope, `unauthorized`."),
            429: OpenApiResponse(description="Too many open streams for the user or tenant: `rate_limited`."),
        },
    )
    async def get(self, request, *args, **kwargs):
        if continuation_expired(request):
            return continuation_end_response()
        subscription = await run_db(self._subscribe, request)
        if _grip_proxied(request):  # Pushpin holds the connection: no worker resource to cap
            response = await run_db(grip_response, request, subscription)
            add_default_headers(response, request=request)
            return response
        try:
            slot = await run_db(slots.acquire, subscription.user.pk, subscription.user.tenant_id)
        except slots.StreamCapReached as exc:
            raise Throttled(wait=settings.EVENTS_USER_RECHECK_SECONDS, detail=str(exc)) from exc
        subscription = dataclasses.replace(subscription, slot=slot)
        response = StreamingHttpResponse(EventStream(subscription).events(), content_type="text/event-stream")
        add_default_headers(response, request=request)
        return response

    def _subscribe(self, request) -> Subscription:
        self.initial(request)
        # Never empty: every authentication class admits only active users of a tenant.
        channels = channels_for_user(request.user)
        if isinstance(request.auth, dict):
            deadline = float(request.auth["exp"])
        else:  # the admin session: re-authenticate as often as a token would expire
            deadline = time.time() + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
        raw_id = request.META.get("HTTP_LAST_EVENT_ID") or next(
            (value for value in reversed(request.query_params.getlist("lastEventId")) if value), None
        )
        return Subscription(
            user=request.user,
            channels=tuple(sorted(channels)),
            resume_ids=parse_resume(raw_id, channels),
            deadline=deadline,
            recheck=_rechecker(request),
        )


def _grip_proxied(request) -> bool:
    return getattr(request, "grip", None) is not None and request.grip.proxied


def _rechecker(request):
    """How the open stream re-authenticates its credentials every `EVENTS_USER_RECHECK_SECONDS` (SPEC §15)."""
    authenticator = request.successful_authenticator
    if isinstance(authenticator, QueryStringTokenAuthentication):
        return _token_rechecker(request.query_params["access_token"])
    if isinstance(authenticator, BearerTokenAuthentication):
        return _token_rechecker(request.META["HTTP_AUTHORIZATION"].split()[1])
    if isinstance(authenticator, StaffSessionAuthentication):
        return _session_rechecker(request.session.session_key)
    return None  # a GRIP continuation: Pushpin re-requests, and re-authenticates, when the token expires


def _token_rechecker(raw: str):
    def recheck() -> User | None:
        try:
            return user_for_access_token(raw)[0]  # also refuses tokens revoked since (crm.tokens)
        except Unauthorized:
            return None

    return recheck


def _session_rechecker(session_key: str):
    """The admin session as Django would load it now: logged out, password changed, shut out → None."""

    def recheck() -> User | None:
        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = auth.get_user(request)
        if user.is_authenticated and may_enter_backoffice(user) and user.tenant_id is not None:
            return user
        return None

    return recheck
