"""Role rules for the API, declared per viewset and checked here (never typed into a view body)."""

from rest_framework.permissions import BasePermission


class ActionRolePermission(BasePermission):
    """`view.action_roles = {"create": SUPERVISOR_ROLES, …}`: actions not listed are open to every role.

    Viewsets key it by action; plain API views by HTTP method (`{"PATCH": …}`).
    """

    message = "Your role may not perform this action."

    def has_permission(self, request, view):
        key = getattr(view, "action", None) or request.method
        allowed = getattr(view, "action_roles", {}).get(key)
        return allowed is None or request.user.role in allowed
