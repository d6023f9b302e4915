"""drf-spectacular: the schema class, and extensions for the project's own field and auth classes."""

import copy

from django.utils import translation
from drf_spectacular import hooks, openapi
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from crm.i18n import SOURCE_LANGUAGE


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


class AutoSchema(openapi.AutoSchema):
    """Choice descriptions ("* `draft` - Черновик") keep the labels' source text in the API's English document.

    The labels are the back-office's Russian words, translated for an English back-office (crm/i18n.py); the
    document listed them untranslated before they were marked, and it must not change with the catalogs.
    """

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if isinstance(field, serializers.ChoiceField):
            labels = field.choices.items()
            field = copy.copy(field)
            with translation.override(SOURCE_LANGUAGE):
                field.choices = [(value, str(label)) for value, label in labels]
        return super()._map_serializer_field(field, direction, bypass_extensions)


class SourceChoiceLabelsFilterExtension(DjangoFilterExtension):
    """The same for the query parameters of django-filter's choice filters."""

    priority = 1

    def _get_field_description(self, filter_field, description):
        with translation.override(SOURCE_LANGUAGE):
            return super()._get_field_description(filter_field, description)


def postprocess_schema_enums(result, generator, **kwargs):
    """drf-spectacular's enum naming, matching ENUM_NAME_OVERRIDES by the choices' source labels as above."""
    with translation.override(SOURCE_LANGUAGE):
        return hooks.postprocess_schema_enums(result, generator, **kwargs)
