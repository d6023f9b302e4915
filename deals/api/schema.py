"""drf-spectacular extension for the UUID-keyed related fields of the Deals API."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes


class UUIDRelatedFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "deals.api.fields.UUIDRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.UUID)
