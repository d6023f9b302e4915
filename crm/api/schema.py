"""drf-spectacular extensions for the project's own field and auth classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes


class TenantRelatedFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "crm.api.fields.TenantRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.UUID if self.target.to_field == "uuid" else OpenApiTypes.INT)


class BearerTokenAuthenticationExtension(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.BearerTokenAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class QueryStringTokenAuthenticationExtension(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.QueryStringTokenAuthentication"
    name = "accessTokenQuery"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "access_token"}
