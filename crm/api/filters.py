"""Query-string filters shared by the apps' FilterSets."""

from django import forms
from django_filters import rest_framework as filters

from crm.bounds import MAX_BIGINT


class IdFilter(filters.Filter):
    """A positive integer id: anything else (a decimal, an out-of-range number) is a 400, never a database error.

    Its OpenAPI type is the model field's (an integer; nullable where the foreign key is).
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)
