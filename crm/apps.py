from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM: tenants and users"

    def ready(self):
        from crm.api import schema  # noqa: F401 - registers drf-spectacular extensions
