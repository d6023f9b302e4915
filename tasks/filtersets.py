"""Query filters of the task lists (`/api/tasks`, `/api/leads/{id}/tasks`)."""

from datetime import tzinfo

from django.core.exceptions import ValidationError
from django.core.validators import EMPTY_VALUES
from django.db.models import Q
from django_filters import rest_framework as filters

from crm.api.filters import IdFilter
from tasks.models import DueBucket, LeadTask, TaskStatus, TaskType
from tasks.selectors import due_bucket_q

PAGE_PARAMETERS = frozenset({"limit", "offset"})


class LeadTaskFilterSet(filters.FilterSet):
    """Filters of one lead's tasks."""

    status = filters.ChoiceFilter(choices=TaskStatus.choices)
    type = filters.ChoiceFilter(choices=TaskType.choices)
    due = filters.ChoiceFilter(
        choices=DueBucket.choices,
        method="filter_due",
        help_text="today / overdue (open and past due) / week (today and the next 6 days), in the tenant's timezone.",
    )
    assigned_to_user_id = IdFilter(field_name="assigned_to_id")

    class Meta:
        model = LeadTask
        fields: list[str] = []

    # The filters with a method, as the condition that method filters by (a value and the tenant's timezone).
    # `conditions` reads only these: a method filter missing here sends its request through the FilterSet.
    method_conditions = {"due": due_bucket_q}

    def filter_due(self, queryset, name, value):
        return queryset.filter(due_bucket_q(value, tz=self.request.user.tenant.tzinfo))

    @classmethod
    def conditions(cls, query_params, *, tz: tzinfo) -> list[Q] | None:
        """These filters as conditions, read without building the FilterSet (the lean lists, tasks.selectors).

        Each value is cleaned by its filter's own form field, so both paths accept and refuse the same values. None
        when a parameter is not a filter or a page parameter, a value is refused, or a method filter has no entry
        in `method_conditions`: the FilterSet answers those (its 400 included).
        """
        if not set(query_params) <= cls.base_filters.keys() | PAGE_PARAMETERS:
            return None
        conditions = []
        for name, declared in cls.base_filters.items():
            raw = query_params.get(name)
            if raw is None:
                continue
            try:
                value = declared.field.clean(raw)
            except ValidationError:
                return None
            if value in EMPTY_VALUES:  # as django-filter: an empty value filters nothing
                continue
            if declared.method is None:
                conditions.append(Q(**{f"{declared.field_name}__{declared.lookup_expr}": value}))
            elif name in cls.method_conditions:
                conditions.append(cls.method_conditions[name](value, tz=tz))
            else:
                return None
        return conditions


class TaskFilterSet(LeadTaskFilterSet):
    """Filters of `/api/tasks`: a lead's filters plus the lead itself."""

    lead_id = IdFilter(field_name="lead_id")
