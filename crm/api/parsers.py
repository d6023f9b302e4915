"""Request bodies parsed once, within what Python and PostgreSQL can hold (SPEC §3, §15).

A body that cannot be stored or parsed is a 400 `validation_error` before any view sees it:
- NUL characters: PostgreSQL text and jsonb cannot store U+0000;
- nesting deeper than MAX_JSON_DEPTH: Python's json module and every recursive walker after it (serializers,
  renderers, jsonb) would hit the recursion limit (a few thousand levels answered 500);
- integers outside a signed 64-bit integer (PostgreSQL bigint, the widest id we have); orjson hands larger ones
  back as floats, so floats as large are refused too.

`parse_json` is the one JSON reader. `crm.middleware.InputGuardMiddleware` runs it on every JSON body under /api
(so even a view that ignores its body answers 400 to a poisoned one) and checks paths, query strings, headers and
form bodies everywhere; DRF's `JSONParser` and the webhooks then reuse that parse (`request_json`), and the
back-office's JSON views call `parse_json` themselves.
"""

import math
from typing import Any

import orjson
from rest_framework import parsers, renderers

from crm.errors import ValidationFailed

MAX_JSON_DEPTH = 100
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**63 - 1
NUL_MESSAGE = "NUL characters (U+0000) are not allowed."
_PARSED = "_crm_parsed_json"


def parse_json(raw: bytes | str):
    """The JSON document in `raw`, or ValidationFailed naming the field at fault (`contact.phone`) or `body`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson refuses invalid UTF-8, lone surrogates, NaN and more than 1024 levels of nesting itself.
        problem: tuple[str, str] | None = ("body", f"JSON parse error - {exc}")
    else:
        problem = json_problem(value)
    if problem is None:
        return value
    field, message = problem
    prefix = "Malformed request body" if field == "body" else field
    raise ValidationFailed(f"{prefix}: {message}", details={field: [message]})


def json_problem(value) -> tuple[str, str] | None:
    """(field, message) of what makes a parsed JSON value unstorable, or None; iterative, so any depth is safe."""
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    while stack:
        item, depth, where = stack.pop()  # `where` links to the parent: (parent's where, key or index)
        if not isinstance(item, dict | list):
            message = _scalar_problem(item)
            if message is not None:
                return _field(where), message
            continue
        if depth > MAX_JSON_DEPTH:
            return "body", f"Nested deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(item, list):
            stack.extend((child, depth + 1, (where, index)) for index, child in enumerate(item))
            continue
        for key, child in item.items():
            if "\x00" in key:
                return _field(where), f"{NUL_MESSAGE} (in a key)"
            stack.append((child, depth + 1, (where, key)))
    return None


def _scalar_problem(item) -> str | None:
    """What makes one JSON scalar unstorable: a NUL in a string, a number beyond a 64-bit integer."""
    if isinstance(item, str):
        return NUL_MESSAGE if "\x00" in item else None
    if isinstance(item, bool) or item is None:
        return None
    if (isinstance(item, int) and not MIN_INTEGER <= item <= MAX_INTEGER) or (
        isinstance(item, float) and (not math.isfinite(item) or abs(item) >= 2.0**63)
    ):
        return "The number is out of range (at most a 64-bit integer)."
    return None


def _field(where) -> str:
    """The dotted name of a place in the body, as the envelope names fields (`contacts.0.value`)."""
    parts = []
    while where is not None:
        where, key = where
        parts.append(str(key)[:40])
    return ".".join(reversed(parts)) or "body"


def request_json(request):
    """The JSON body of a request (Django's or DRF's), parsed once: InputGuardMiddleware parses it first."""
    request = getattr(request, "_request", request)
    if not hasattr(request, _PARSED):
        setattr(request, _PARSED, parse_json(request.body))
    return getattr(request, _PARSED)


class JSONParser(parsers.BaseParser):
    """DRF's JSON parser on `parse_json` (orjson, with the limits above), reusing the middleware's parse."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        if request is not None and hasattr(request._request, _PARSED):
            return getattr(request._request, _PARSED)
        return parse_json(stream.read())
