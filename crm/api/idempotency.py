"""`Idempotency-Key` for every /api/v1 POST (SPEC §9), implemented once: decorate the handler with `@idempotent`.

- The key must be a UUID (else 400 validation_error). Keys are scoped to the tenant and the user, kept 24 h.
- The first request claims the key by inserting an unfinished `IdempotencyKey` row in its own, immediately
  committed transaction: the unique constraint (tenant, user, key) makes exactly one concurrent request the owner.
- The owner runs the handler and stores its 2xx response in the same transaction as the handler's writes, so a
  stored response always matches committed data. A 4xx/5xx (or an exception) releases the key: the client may fix
  the body and retry with the same key.
- Others with the same key: a different body (method, path and canonical JSON) → 409 idempotency_key_reused;
  the first still running → 409 idempotency_request_in_progress; otherwise the stored status and body are
  replayed with `Idempotent-Replayed: true` and nothing is created.
"""

import functools
import hashlib
import json
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from crm.api.renderers import JSONRenderer
from crm.errors import Conflict, ValidationFailed
from crm.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_TTL = timedelta(hours=24)
# Expired keys are deleted by every PURGE_EVERY-th claim: amortised, and the table stays ~24 h of keys long.
PURGE_EVERY = 100
# An unfinished claim this old belongs to a request whose worker died; the key becomes usable again.
ABANDONED_AFTER = timedelta(minutes=10)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.UUID,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A UUID. The same key with the same body replays the first 2xx response (header "
        "`Idempotent-Replayed: true`) without creating anything; with a different body → 409 "
        "`idempotency_key_reused`; while the first request runs → 409 `idempotency_request_in_progress`. "
        "Keys are per user and kept 24 h."
    ),
)


def idempotent(handler):
    """Make a create handler honour `Idempotency-Key`; requests without the header run unchanged."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        raw_key = request.headers.get(HEADER)
        if raw_key is None:
            return handler(view, request, *args, **kwargs)
        key = _parse_key(raw_key)
        claim, replay = _claim(request, key, _fingerprint(request))
        if replay is not None:
            return replay
        try:
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    # Stored as the JSON text (a jsonb string): jsonb would reorder an object's keys.
                    body = JSONRenderer().render(response.data).decode()
                    IdempotencyKey.objects.filter(pk=claim.pk).update(
                        response_status=response.status_code, response_body=body
                    )
                    return response
        except BaseException:
            _release(claim)
            raise
        _release(claim)
        return response

    wrapper.is_idempotent = True
    return extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])(wrapper)


def _parse_key(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise ValidationFailed.for_field(HEADER, "Must be a UUID.") from None


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(request, key: uuid.UUID, fingerprint: str) -> tuple[IdempotencyKey | None, Response | None]:
    """Insert the unfinished row (we own the key) or explain who does: replay, reused or in progress."""
    user = request.user
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _commit_without_waiting_for_disk()
                claim = IdempotencyKey.objects.create(
                    tenant_id=user.tenant_id, user=user, key=key, request_fingerprint=fingerprint
                )
                if claim.pk % PURGE_EVERY == 0:
                    IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEY_TTL).delete()
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(tenant_id=user.tenant_id, user=user, key=key).first()
        else:
            return claim, None
        if existing is None or _expired(existing):
            if existing is not None:
                IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_fingerprint != fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used with a different request.", code="idempotency_key_reused"
            )
        if not existing.is_complete:
            break
        headers = {REPLAYED_HEADER: "true"}
        data = json.loads(existing.response_body) if existing.response_body else None
        return None, Response(data, status=existing.response_status, headers=headers)
    raise Conflict(
        "A request with this Idempotency-Key is still being processed.", code="idempotency_request_in_progress"
    )


def _commit_without_waiting_for_disk() -> None:
    """The claim is only a lock marker: it need not wait for the WAL flush (PostgreSQL `synchronous_commit`).

    Other sessions see it as soon as it commits. Should the server crash before the flush, the claim is lost only
    if the request's own writes were lost too: their synchronous commit flushes every earlier WAL record.
    """
    connection = transaction.get_connection()
    # Only when the claim is its own transaction (not nested in a caller's, whose commit must stay durable).
    if connection.vendor == "postgresql" and not connection.savepoint_ids:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _expired(record: IdempotencyKey) -> bool:
    age = timezone.now() - record.created_at
    return age > KEY_TTL or (not record.is_complete and age > ABANDONED_AFTER)


def _release(claim: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=claim.pk).delete()
