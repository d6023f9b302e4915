from django.urls import path

from tasks.api import views

urlpatterns = [
    path("tasks", views.TaskViewSet.as_view({"get": "list"}), name="task-list"),
    path(
        "leads/tasks/<int:pk>",
        views.TaskViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="task-detail",
    ),
    path(
        "leads/<int:lead_id>/tasks",
        views.LeadTaskViewSet.as_view({"get": "list", "post": "create"}),
        name="lead-task-list",
    ),
]
