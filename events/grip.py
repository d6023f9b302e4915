"""The stream behind a GRIP proxy (Pushpin): Django answers at once and Pushpin holds the client connection.

Used when `GRIP_URL` is set and the request came through the proxy (`django_grip.GripMiddleware` verified its
signature). The library builds the hold instructions (channels `events-<channel>`, the next link carrying a signed
`es-meta`); this module writes the contract's events into the body and replaces the library's 20 s `keep-alive`
with our `ping`. Pushpin requests the next link again when the access token expires, with the client's original
credentials, so an expired token ends the stream there too.
"""

import time
from typing import cast
from urllib.parse import unquote

import jwt
from django.conf import settings
from django.http import HttpResponse, QueryDict
from django_eventstream.eventrequest import EventRequest
from django_eventstream.eventstream import get_events
from django_eventstream.utils import make_id, sse_encode_event
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from crm.models import User
from events.stream import PING, Subscription, envelope


class GripContinuationAuthentication(BaseAuthentication):
    """Pushpin's own follow-up requests (the next link) carry the library's signed `es-meta`, not the client's
    Authorization header. Honoured only on requests whose GRIP signature the middleware verified."""

    def authenticate(self, request):
        grip = getattr(request._request, "grip", None)
        raw = request.query_params.get("es-meta")
        if grip is None or not grip.proxied or not raw:
            return None
        try:
            meta = jwt.decode(raw, settings.SECRET_KEY, algorithms=["HS256"])
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed("The stream continuation is invalid or expired.") from exc
        user = User.objects.filter(pk=meta.get("user"), is_active=True, tenant__isnull=False).first()
        if user is None:
            raise AuthenticationFailed("The stream continuation names no active user.")
        return user, {"exp": meta["exp"]}


def continuation_expired(request) -> bool:
    """A proxied next-link request whose `es-meta` (the client's token lifetime) has run out."""
    grip = getattr(request, "grip", None)
    raw = request.GET.get("es-meta")
    if grip is None or not grip.proxied or request.GET.get("link") != "next" or not raw:
        return False
    try:
        jwt.decode(raw, settings.SECRET_KEY, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        return True
    except jwt.InvalidTokenError:
        return False
    return False


def continuation_end_response() -> HttpResponse:
    """No hold instructions: Pushpin sends the (empty) body and closes the client's stream."""
    return HttpResponse("", content_type="text/event-stream")


def grip_response(request, subscription: Subscription):
    """The immediate response with hold instructions for one (initial or continuation) proxied request."""
    is_next = request.GET.get("link") == "next"
    if request.GET.get("recover") == "true":
        requested = {
            unquote(name[len("events-") :]): int(last_id)
            for name, last_id in request.grip.last.items()
            if name.startswith("events-") and last_id.isdigit()
        }
    else:
        requested = {channel: last for channel, last in (subscription.resume_ids or {}).items() if last is not None}
    event_request = EventRequest()
    event_request.channels = set(subscription.channels)
    event_request.channel_last_ids = {
        channel: str(requested[channel]) for channel in subscription.channels if channel in requested
    }
    event_request.is_next = is_next
    event_request.is_recover = request.GET.get("recover") == "true"
    event_request.user = subscription.user
    events = get_events(event_request, user=subscription.user)

    response = events.to_grip_response(request)
    instruct = request.grip.instruct
    instruct.set_keep_alive(PING, settings.EVENTS_PING_SECONDS)
    # Pushpin follows the next link when the token expires; its `es-meta` expires with the token, so that
    # request gets `continuation_end_response` and the stream ends as it does without the proxy.
    path, _, query = instruct.next_link.partition("?")
    params = QueryDict(query, mutable=True)
    meta = jwt.decode(cast(str, params["es-meta"]), settings.SECRET_KEY, algorithms=["HS256"])
    meta["exp"] = min(meta["exp"], int(subscription.deadline))
    params["es-meta"] = jwt.encode(meta, settings.SECRET_KEY, algorithm="HS256")
    instruct.set_next_link(f"{path}?{params.urlencode()}", timeout=max(int(subscription.deadline - time.time()) + 1, 1))

    reset = set(events.channel_reset)
    if subscription.resume_ids is not None and not is_next:
        reset |= {channel for channel, last in subscription.resume_ids.items() if last is None}
    last_ids = {
        channel: requested[channel]
        if channel in requested and channel not in reset
        else events.channel_last_ids[channel]
        for channel in subscription.channels
    }
    body = ""
    if not is_next:
        user = subscription.user
        body += sse_encode_event(
            "connected",
            envelope("connected", {"user_id": user.pk, "tenant_id": user.tenant_id}),
            event_id=make_id(last_ids),
            escape=True,
        )
    if reset:
        body += sse_encode_event("stream-reset", envelope("stream-reset", {}), event_id=make_id(last_ids), escape=True)
    for channel in sorted(events.channel_items):
        for item in events.channel_items[channel]:
            last_ids[channel] = item.id
            body += sse_encode_event(item.type, item.data, event_id=make_id(last_ids), escape=True)
    response.content = body
    return response
