"""SPEC §12 on existing tenants: the default pipeline's «Успешно» is won and «Отказ» lost, and every tenant gets
the default loss reasons it lacks. Copies of pipelines.services' defaults: migrations never import app code."""

from django.db import migrations

DEFAULT_OUTCOMES = {"Успешно": "won", "Отказ": "lost"}
DEFAULT_LOSS_REASONS = ("Дорого", "Выбрали конкурента", "Не дозвонились", "Нет потребности")


def forwards(apps, schema_editor):
    Tenant = apps.get_model("crm", "Tenant")
    Stage = apps.get_model("pipelines", "Stage")
    LossReason = apps.get_model("pipelines", "LossReason")
    for name, outcome in DEFAULT_OUTCOMES.items():
        # Only closed stages may carry an outcome (the check constraint); a reopened one is left as the tenant set it.
        Stage.objects.filter(pipeline__is_default=True, name=name, is_closed=True, outcome__isnull=True).update(
            outcome=outcome
        )
    existing = set(LossReason.objects.values_list("tenant_id", "name"))
    LossReason.objects.bulk_create(
        LossReason(tenant_id=tenant_id, name=name)
        for tenant_id in Tenant.objects.values_list("pk", flat=True).order_by("pk")
        for name in DEFAULT_LOSS_REASONS
        if (tenant_id, name) not in existing
    )


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0003_tenant_distribution_and_renewal_settings"),
        ("pipelines", "0006_budget_outcomes_loss_reasons_and_deal_link"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
