"""orjson for the /api/v1 responses: the list bodies are the hot path and the stdlib encoder is several times slower."""

from decimal import Decimal

import orjson
from rest_framework.renderers import JSONRenderer


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    # Lazy translation strings and other str-like objects in error details.
    return str(value)


class OrjsonRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=_default)
