"""`create_tenant` and `demo_data` (SPEC §1)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm.models import Tenant, User


def _create_tenant(*extra):
    out = StringIO()
    call_command(
        "create_tenant",
        "--name",
        "Acme",
        "--slug",
        "acme",
        "--owner",
        "boss",
        "--password",
        "Sup3r-secret!",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def test_create_tenant_prints_json_as_last_line(db):
    output = _create_tenant(
        "--timezone", "Asia/Vladivostok", "--whatsapp-verify-token", "vt", "--whatsapp-app-secret", "as"
    )
    result = json.loads(output.strip().splitlines()[-1])
    tenant = Tenant.objects.get(slug="acme")
    owner = User.objects.get(username="boss")
    assert result == {"tenant_id": tenant.id, "slug": "acme", "owner_id": owner.id, "webhook_key": tenant.webhook_key}
    assert owner.role == "owner"
    assert owner.is_staff
    assert owner.check_password("Sup3r-secret!")
    assert (tenant.timezone, tenant.whatsapp_verify_token, tenant.whatsapp_app_secret) == (
        "Asia/Vladivostok",
        "vt",
        "as",
    )


def test_duplicate_slug_fails_clearly_and_creates_nothing(db):
    _create_tenant()
    with pytest.raises(CommandError, match="slug"):
        call_command(
            "create_tenant",
            "--name",
            "B",
            "--slug",
            "acme",
            "--owner",
            "other",
            "--password",
            "Sup3r-secret!",
            stdout=StringIO(),
        )
    assert Tenant.objects.count() == 1
    assert not User.objects.filter(username="other").exists()


@pytest.mark.parametrize(
    "extra",
    [("--timezone", "Nowhere/City"), ("--password", "1")],
)
def test_invalid_input_creates_nothing(db, extra):
    args = ["--name", "Acme", "--slug", "acme", "--owner", "boss", "--password", "Sup3r-secret!"]
    index = args.index(extra[0]) if extra[0] in args else None
    if index is not None:
        args[index + 1] = extra[1]
    else:
        args.extend(extra)
    with pytest.raises(CommandError):
        call_command("create_tenant", *args, stdout=StringIO())
    assert not Tenant.objects.exists()
    assert not User.objects.exists()


def test_demo_data_creates_the_demo_tenant_once(db):
    out = StringIO()
    call_command("demo_data", stdout=out)
    assert "owner" in out.getvalue()
    tenant = Tenant.objects.get(slug="demo")
    roles = sorted(User.objects.filter(tenant=tenant).values_list("role", flat=True))
    assert roles == ["manager", "manager", "owner", "rop"]
    call_command("demo_data", stdout=StringIO())
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(tenant=tenant).count() == 4
