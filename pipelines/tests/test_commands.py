from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pipelines.models import Pipeline, Stage


def run(*args) -> str:
    out = StringIO()
    call_command("seed_default_pipelines", *args, stdout=out)
    return out.getvalue()


def test_seeds_tenants_that_lack_the_default(tenant, other_tenant):
    output = run()

    assert "Tenant «Acme»" in output
    assert "created «Основная» (Новые, В работе, Переговоры, Успешно, Отказ)" in output
    assert "Done: 2 created, 0 already present." in output
    assert Pipeline.objects.filter(is_default=True).count() == 2
    assert Stage.objects.count() == 10


def test_is_idempotent(tenant):
    run()

    output = run()

    assert "already has default pipeline «Основная»" in output
    assert "Done: 0 created, 1 already present." in output
    assert Pipeline.objects.count() == 1


def test_one_tenant_only(tenant, other_tenant):
    output = run("--tenant", str(other_tenant.pk))

    assert "Globex" in output
    assert "Done: 1 created, 0 already present." in output
    assert not Pipeline.objects.filter(tenant=tenant).exists()


def test_unknown_tenant_fails(db):
    with pytest.raises(CommandError, match="No tenant with id 424242"):
        run("--tenant", "424242")
