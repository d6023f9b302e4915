from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = _("Задачи по лидам")

    def ready(self):
        from pipelines.selectors import lead_table_column_register
        from tasks.selectors import lead_task_annotations

        # The lead table's task columns come from real tasks, as correlated subqueries of its one page query.
        for key in ("open_tasks_count", "next_task_due_at"):
            lead_table_column_register(key, lambda key=key: lead_task_annotations()[key])
