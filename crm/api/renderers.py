"""The API's JSON renderer: orjson, with DRF's own conversions for what orjson leaves to it.

List bodies are the hot path and the stdlib encoder DRF uses is several times slower. The output is DRF's: compact,
UTF-8, dates and times, decimals, UUIDs and lazy translation strings written by DRF's encoder (orjson hands them
over instead of writing its own forms). An `indent` asked for in `Accept` still gets DRF's pretty printing.
"""

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_drf_default = JSONEncoder().default


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=_drf_default, option=_OPTIONS)
