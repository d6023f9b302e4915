"""Query filters of the task lists (`/api/tasks`, `/api/leads/{id}/tasks`)."""

from django_filters import rest_framework as filters

from crm.api.filters import IdFilter
from tasks.models import DueBucket, LeadTask, TaskStatus, TaskType
from tasks.selectors import due_bucket_q


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

    def filter_due(self, queryset, name, value):
        return queryset.filter(due_bucket_q(value, tz=self.request.user.tenant.tzinfo))


class TaskFilterSet(LeadTaskFilterSet):
    """Filters of `/api/tasks`: a lead's filters plus the lead itself."""

    lead_id = IdFilter(field_name="lead_id")
