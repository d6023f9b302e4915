"""Optimistic updates over HTTP (SPEC §11), in one place: `If-Match` and a body `version` in, `ETag` out.

- Every single-object response of a versioned object carries `ETag: "<version>"` (strong, quoted): the view mixin
  sets it from the rendered object's `version`, so GET, POST 201, PATCH, the stage move and idempotent replays agree.
- A PATCH handler calls `self.validated_update(InputSerializer)` and passes the returned `Expected` to its service,
  which checks it under the row lock (stale `If-Match` → 412, stale body `version` → 409, see `crm.versions`).
- A malformed `If-Match` (not one strong quoted integer: `W/"1"`, `1`, `"1", "2"`, `"-1"`, a huge number) or
  `version` (not a JSON integer in range: `"1"`, `true`, `-1`, `1.5`) is 400 `validation_error`.
  `If-Match: *` matches any current version (RFC 9110): it asks nothing of an object that exists.
"""

import re
from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from crm.errors import ValidationFailed
from crm.versions import MAX_VERSION, Expected

IF_MATCH = "If-Match"
_ENTITY_TAG = re.compile(r'"(0|[1-9][0-9]{0,9})"')

IF_MATCH_PARAMETER = OpenApiParameter(
    name=IF_MATCH,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        'The `ETag` you read, e.g. `"3"`: when the object\'s current version differs → 412 `precondition_failed` '
        "and nothing changes. One strong quoted integer (or `*`); anything else → 400 `validation_error`. "
        "Without it (and without a body `version`) the change applies as before."
    ),
)
ETAG_PARAMETER = OpenApiParameter(
    name="ETag",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=[200],
    description='The object\'s current version, quoted (`"3"`); send it back as `If-Match`.',
)


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The error envelope (SPEC §3), for the responses documented here."""

    error = serializers.CharField(help_text="Machine code, e.g. `precondition_failed`.")
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


# The two stale-version answers of every PATCH of a versioned object, for the /api operations' schema.
STALE_RESPONSES = {
    409: OpenApiResponse(
        ErrorEnvelopeSerializer, description="`conflict`: the body's `version` is not the current version."
    ),
    412: OpenApiResponse(
        ErrorEnvelopeSerializer, description="`precondition_failed`: `If-Match` is not the current version."
    ),
}


class VersionField(serializers.IntegerField):
    """A body `version`: a JSON integer 0..2³¹−1 (never a string, a boolean or a float)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_VERSION)
        kwargs.setdefault(
            "help_text", "The version you read: when it is not the current version → 409 `conflict`, nothing changes."
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class VersionedInputSerializer(serializers.Serializer):
    """Base of every PATCH body of a versioned object: adds the optional `version`."""

    version = VersionField()


def parse_if_match(raw: str | None) -> int | None:
    """The version an `If-Match` header names; None when absent or `*`; 400 when malformed."""
    if raw is None:
        return None
    value = raw.strip()
    if value == "*":
        return None
    match = _ENTITY_TAG.fullmatch(value)
    if match is None or int(match.group(1)) > MAX_VERSION:
        raise ValidationFailed.for_field(IF_MATCH, 'Send one strong entity tag: the ETag you read, e.g. "3".')
    return int(match.group(1))


class VersionedViewMixin:
    """ETag on single-object responses of versioned objects; `validated_update` for PATCH handlers."""

    # What the view it is mixed into provides: APIView's DRF Request (Any, as Django's View declares an
    # HttpRequest) and TenantContextMixin's validated_input.
    request: Any
    validated_input: Callable[..., dict]

    def validated_update(self, serializer_class) -> tuple[dict, Expected]:
        """The validated body without `version`, and what the caller expects (If-Match and/or body version)."""
        if_match = parse_if_match(self.request.headers.get(IF_MATCH))
        data = dict(self.validated_input(serializer_class))
        return data, Expected(if_match=if_match, body=data.pop("version", None))

    def finalize_response(self, request, response, *args, **kwargs):
        data = getattr(response, "data", None)
        if 200 <= response.status_code < 300 and isinstance(data, dict) and isinstance(data.get("version"), int):
            response["ETag"] = f'"{data["version"]}"'
        return super().finalize_response(request, response, *args, **kwargs)
