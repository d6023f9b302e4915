"""Serializers of lead tasks: one read shape (SPEC §7) and the create/update inputs."""

from datetime import tzinfo

from rest_framework import serializers

from crm.api.fields import TenantRelatedField
from crm.api.present import iso_datetime
from crm.api.versioning import VersionedInputSerializer
from crm.models import User
from tasks.models import MAX_NOTE_LENGTH, LeadTask, TaskStatus, TaskType


def _active_users(queryset):
    return queryset.filter(is_active=True)


class LeadTaskSerializer(serializers.ModelSerializer):
    lead_id = serializers.IntegerField(read_only=True)
    assigned_to_user_id = serializers.IntegerField(source="assigned_to_id", read_only=True)
    created_by_user_id = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = LeadTask
        fields = [
            "id",
            "lead_id",
            "type",
            "status",
            "due_at",
            "note",
            "assigned_to_user_id",
            "created_by_user_id",
            "completed_at",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    @staticmethod
    def present(task, tz: tzinfo | None = None) -> dict:
        """The task as the fields above write it (tasks/tests/test_api_tasks_present.py), without walking them.

        `tz`: the active timezone, when the caller presents a page and has looked it up once.
        """
        return {
            "id": task.id,
            "lead_id": task.lead_id,
            "type": task.type,
            "status": task.status,
            "due_at": iso_datetime(task.due_at, tz),
            "note": task.note,
            "assigned_to_user_id": task.assigned_to_id,
            "created_by_user_id": task.created_by_id,
            "completed_at": iso_datetime(task.completed_at, tz),
            "created_at": iso_datetime(task.created_at, tz),
            "updated_at": iso_datetime(task.updated_at, tz),
            "version": task.version,
        }


class LeadTaskCreateInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TaskType.choices, default=TaskType.CALL)
    due_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="ISO-8601; without an offset it is read in the tenant's timezone."
    )
    note = serializers.CharField(
        max_length=MAX_NOTE_LENGTH, required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    assigned_to_user_id = TenantRelatedField(
        model=User,
        limit=_active_users,
        source="assigned_to",
        required=False,
        allow_null=True,
        help_text="An active user of the tenant; the caller when omitted. A manager may only name themself.",
    )


class LeadTaskUpdateInputSerializer(VersionedInputSerializer):
    type = serializers.ChoiceField(choices=TaskType.choices, required=False)
    status = serializers.ChoiceField(
        choices=TaskStatus.choices, required=False, help_text="`done` sets completed_at; leaving `done` clears it."
    )
    due_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="ISO-8601; without an offset it is read in the tenant's timezone."
    )
    note = serializers.CharField(
        max_length=MAX_NOTE_LENGTH, required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    assigned_to_user_id = TenantRelatedField(
        model=User,
        limit=_active_users,
        source="assigned_to",
        required=False,
        help_text="An active user of the tenant; a manager may only name themself.",
    )
