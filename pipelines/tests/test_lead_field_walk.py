"""Every field of Lead, walked over every surface that shows a lead: shown there, or listed in NOT_SHOWN with why.

A new Lead field with no decision fails here, naming the surface and the field (issue 12). The lead is built with
a recognisable value in every field (ids far from the sequences, names no other value contains), and a field
counts as shown when one of its recognisable values appears in what the surface sends.

The last test holds the lead table's hand-written SELECT to what the ORM reads for the same leads, column by column.
"""

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Min, Q
from django.urls import reverse

from crm.tests.factories import TEST_PASSWORD, TenantFactory, UserFactory
from deals.tests.factories import ClientFactory, DealFactory
from pipelines.models import Lead, LeadSource, LossReason, StageOutcome
from pipelines.tests.factories import LeadFactory, PipelineFactory, StageFactory
from tasks.models import LeadTask, TaskStatus

NOT_SHOWN: dict[str, dict[str, str]] = {
    "api_detail": {},
    "lead_table": {
        "tenant": "the table is the caller's own tenant",
        "external_id": "an intake key, in the detail only",
        "comment": "free text, in the detail only",
        "source_payload": "the raw inbound message, in the detail only",
        "loss_reason": "the table has no loss column (SPEC §12 lists the row keys)",
        "client": "the conversion link, in the detail only",
        "deal": "the conversion link, in the detail only",
        "version": "the table is read-only; an edit reads the version from the detail",
    },
    "board_card": {
        "tenant": "the board is the caller's own tenant",
        "email": "the card shows the phone, the email only when there is no phone",
        "external_id": "an intake key, not for the card",
        "comment": "free text, opened on the lead's page",
        "pipeline": "the board is one pipeline: the page, not the card, names it",
        "source_payload": "the raw inbound message, not for the card",
        "loss_reason": "a card is small; the reason is on the lead's page",
        "client": "the conversion link, on the lead's page",
        "deal": "the conversion link, on the lead's page",
        "created_at": "the card shows the time in the stage",
        "updated_at": "the card shows the time in the stage",
        "version": "a move sends no version",
    },
    "admin_change_form": {
        "tenant": "the admin is scoped to the user's tenant",
        "client": "the conversion link, shown in the API",
        "deal": "the conversion link, shown in the API",
    },
    "export": {
        "tenant": "an export is the caller's own tenant",
        "external_id": "an intake key, not for spreadsheets",
        "source_payload": "the raw inbound message, not for spreadsheets",
        "loss_reason": "not among the export's columns",
        "client": "the conversion link, not for spreadsheets",
        "deal": "the conversion link, not for spreadsheets",
        "updated_at": "not among the export's columns",
        "version": "not among the export's columns",
    },
}

SURFACES = sorted(NOT_SHOWN)
CREATED = datetime(2014, 3, 21, 6, 15, tzinfo=UTC)
MOVED = datetime(2016, 7, 13, 9, 41, tzinfo=UTC)
UPDATED = datetime(2017, 11, 9, 14, 2, tzinfo=UTC)


def lead_fields() -> list[str]:
    """The fields stored on a lead's row (reverse relations such as its history are other models' fields)."""
    return [field.name for field in Lead._meta.get_fields() if field.concrete]


MONTHS = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]


def dates(moment: datetime) -> tuple[str, ...]:
    """The day in the forms a surface may write it: ISO, Russian numeric, Russian words (each date field of the
    walk is in its own year, so no field passes on another's date)."""
    return (
        moment.strftime("%Y-%m-%d"),
        moment.strftime("%d.%m.%Y"),
        f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}",
    )


@dataclass(frozen=True)
class Walk:
    lead: Lead
    shown_as: dict[str, tuple[str, ...]]  # field name -> the recognisable texts of the value put in


@pytest.fixture
def tenant(db):
    return TenantFactory(id=610001, name="Walk-Tenant-Acme", slug="walk-acme")


@pytest.fixture
def walk(tenant, owner) -> Walk:
    pipeline = PipelineFactory(id=620002, tenant=tenant, name="Walk-Pipeline-Sales")
    stage = StageFactory(
        id=630003, pipeline=pipeline, name="Walk-Stage-Lost", is_closed=True, outcome=StageOutcome.LOST
    )
    reason = LossReason.objects.create(id=640004, tenant=tenant, name="Walk-Reason-Too-Dear")
    assignee = UserFactory(id=650005, tenant=tenant, username="walk_assignee", full_name="Walk-Assignee-Irina")
    client = ClientFactory(tenant=tenant, full_name="Walk-Client-Romashka")
    deal = DealFactory(tenant=tenant, client=client, title="Walk-Deal-Kasko")
    lead = LeadFactory(
        id=660006,
        stage=stage,
        name="Walk-Title-7731",
        phone="+79995550123",
        email="walk-email@example.com",
        source=LeadSource.WHATSAPP,
        external_id="Walk-External-Id",
        comment="Walk-Comment-Text",
        assigned_to=assignee,
        source_payload={"walk_payload_key": "Walk-Payload-Value"},
        price=Decimal("777123.45"),
        loss_reason=reason,
        client=client,
        deal=deal,
        moved_to_stage_at=MOVED,
    )
    Lead.objects.filter(pk=lead.pk).update(created_at=CREATED, updated_at=UPDATED, version=4242)
    return Walk(lead=lead, shown_as=shown_as(lead))


def shown_as(lead: Lead) -> dict[str, tuple[str, ...]]:
    """What a reader would recognise of each value put in by the `walk` fixture: its id, name or formatting."""
    return {
        "id": ("660006",),
        "tenant": ("610001", "Walk-Tenant-Acme"),
        "name": ("Walk-Title-7731",),
        "phone": ("+79995550123",),
        "email": ("walk-email@example.com",),
        "source": ("whatsapp", "WhatsApp"),
        "external_id": ("Walk-External-Id",),
        "comment": ("Walk-Comment-Text",),
        "pipeline": ("620002", "Walk-Pipeline-Sales"),
        "stage": ("630003", "Walk-Stage-Lost"),
        "moved_to_stage_at": dates(MOVED),
        "assigned_to": ("650005", "Walk-Assignee-Irina"),
        "source_payload": ("Walk-Payload-Value",),
        "price": ("777123.45", "777\u202f123,45", "777 123,45", "777123,45"),
        "loss_reason": ("640004", "Walk-Reason-Too-Dear"),
        "client": (str(lead.client_id), "Walk-Client-Romashka"),
        "deal": (str(lead.deal_id), "Walk-Deal-Kasko"),
        "created_at": dates(CREATED),
        "updated_at": dates(UPDATED),
        "version": ("4242",),
    }


# ---------------------------------------------------------------- what each surface sends, as text


def api_detail(owner_client, staff, lead: Lead) -> str:
    response = owner_client.get(f"/api/leads/{lead.pk}")
    assert response.status_code == 200, response.content
    return json.dumps(response.json(), ensure_ascii=False)


def lead_table(owner_client, staff, lead: Lead) -> str:
    response = owner_client.get("/api/v2/leads/table")
    assert response.status_code == 200, response.content
    [row] = [row for row in response.json()["rows"] if row["id"] == lead.pk]
    return json.dumps(row, ensure_ascii=False)


def board_card(owner_client, staff, lead: Lead) -> str:
    response = staff.get(reverse("admin:pipelines_pipeline_board_card", args=[lead.pipeline_id, lead.pk]))
    assert response.status_code == 200, response.content
    card = response.json()
    assert card["html"], "the lead has no card on its pipeline's board"
    return json.dumps(card, ensure_ascii=False)


def admin_change_form(owner_client, staff, lead: Lead) -> str:
    response = staff.get(f"/admin/pipelines/lead/{lead.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def export(owner_client, staff, lead: Lead) -> str:
    response = staff.get(reverse("admin:pipelines_lead_export", args=["csv"]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(text), delimiter=";")
    [row] = [row for row in rows if row[header.index("ID")] == str(lead.pk)]
    return ";".join(row)


SURFACE_TEXT = {
    "api_detail": api_detail,
    "lead_table": lead_table,
    "board_card": board_card,
    "admin_change_form": admin_change_form,
    "export": export,
}


@pytest.fixture
def staff(client, owner):
    client.login(username=owner.username, password=TEST_PASSWORD)
    return client


# ---------------------------------------------------------------- the walk


def test_every_surface_has_its_not_shown_list():
    assert set(NOT_SHOWN) == set(SURFACE_TEXT)


def test_not_shown_names_only_real_lead_fields():
    fields = lead_fields()
    stale = [f"{surface}.{name}" for surface, listed in NOT_SHOWN.items() for name in listed if name not in fields]
    assert not stale, f"NOT_SHOWN lists what is no Lead field (renamed or removed?): {stale}"


@pytest.mark.parametrize("surface", SURFACES)
def test_every_lead_field_is_shown_or_listed_as_not_shown(surface, walk, owner_client, staff):
    text = SURFACE_TEXT[surface](owner_client, staff, walk.lead)
    undecided = []
    for name in lead_fields():
        if name in NOT_SHOWN[surface]:
            continue
        recognisable = walk.shown_as.get(name)
        if recognisable is None:
            undecided.append(f"{name} (a new field? give it a value in the `walk` fixture and `shown_as`)")
        elif not any(value in text for value in recognisable):
            undecided.append(f"{name} (none of {recognisable} is there)")
    listed_but_shown = [
        name for name in NOT_SHOWN[surface] if any(value in text for value in walk.shown_as.get(name, ()))
    ]
    assert not listed_but_shown, f"{surface} now shows {listed_but_shown}: take them out of NOT_SHOWN[{surface!r}]"
    assert not undecided, (
        f"{surface}: these Lead fields are neither shown nor in NOT_SHOWN[{surface!r}] with a reason: "
        + "; ".join(undecided)
    )


# ---------------------------------------------------------------- the table's hand-written SELECT against the ORM


@pytest.fixture
def five_leads(tenant, owner, stages) -> list[int]:
    """Five leads as unlike each other as the table's columns allow: every nullable column null in one of them."""
    second = PipelineFactory(tenant=tenant, name="Второй поток")
    coloured = StageFactory(pipeline=second, name="Звонок", color="#a1b2c3")
    named = UserFactory(tenant=tenant, username="walk_named", full_name="Ирина Полная")
    nameless = UserFactory(tenant=tenant, username="walk_nameless", full_name="")
    full = LeadFactory(
        stage=coloured, name="Полный", email="full@example.com", price=Decimal("777123.45"), assigned_to=named
    )
    bare = LeadFactory(stage=stages[0], name="Пустой", phone=None, email=None, price=None)
    LeadFactory(stage=stages[1], name="Без имени у ответственного", price=Decimal("0"), assigned_to=nameless)
    email_only = LeadFactory(stage=stages[4], name="Сайт", phone=None, email="site@example.com", source="site")
    old = LeadFactory(stage=stages[2], name="Давний", price=Decimal("999999999999.99"), assigned_to=named)
    Lead.objects.filter(pk=old.pk).update(moved_to_stage_at=datetime(2015, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    soon = datetime.now(UTC) + timedelta(days=2)
    for due, status, lead in [
        (soon, TaskStatus.OPEN, full),
        (soon + timedelta(hours=5), TaskStatus.OPEN, full),
        (soon - timedelta(days=9), TaskStatus.DONE, full),  # done: neither counted nor the next one
        (None, TaskStatus.OPEN, email_only),  # open with no due time: counted, no next due time
        (soon, TaskStatus.CANCELLED, bare),
    ]:
        completed_at = soon - timedelta(days=8) if status == TaskStatus.DONE else None
        LeadTask.objects.create(
            tenant=tenant, lead=lead, assigned_to=owner, due_at=due, status=status, completed_at=completed_at
        )
    return list(Lead.objects.filter(tenant=tenant).values_list("pk", flat=True))


def orm_rows(ids: list[int]) -> list[dict]:
    """The table's rows as the ORM reads them, in the table's default order (SPEC: `-created_at`, ties by id)."""
    is_open = Q(tasks__status=TaskStatus.OPEN)
    leads = Lead.objects.filter(pk__in=ids).annotate(
        open_tasks_count=Count("tasks", filter=is_open), next_task_due_at=Min("tasks__due_at", filter=is_open)
    )
    rows = []
    for lead in leads.order_by("-created_at", "-id").values(
        "id", "name", "phone", "email", "source", "pipeline_id", "stage_id", "price", "open_tasks_count",
        "next_task_due_at", "moved_to_stage_at", "created_at", "updated_at", "pipeline__name", "stage__name",
        "stage__color", "assigned_to_id", "assigned_to__full_name", "assigned_to__username",
    ):  # fmt: skip
        full_name, username = lead.pop("assigned_to__full_name"), lead.pop("assigned_to__username")
        lead["assigned_to_name"] = full_name or username  # a user without a full name is shown by login
        lead["assigned_to_user_id"] = lead.pop("assigned_to_id")
        for related in ("pipeline", "stage"):
            lead[f"{related}_name"] = lead.pop(f"{related}__name")
        lead["stage_color"] = lead.pop("stage__color")
        rows.append(lead)
    return rows


def as_python(row: dict) -> dict:
    """A table row with its JSON texts read back: times as aware datetimes, the budget as a Decimal."""
    times = ("moved_to_stage_at", "created_at", "updated_at", "next_task_due_at")
    row = {**row, **{key: datetime.fromisoformat(row[key]) for key in times if row[key] is not None}}
    if row["price"] is not None:
        row["price"] = Decimal(str(row["price"]))
    return row


def test_table_rows_equal_the_orm_field_by_field(owner_client, five_leads):
    response = owner_client.get("/api/v2/leads/table", {"limit": 5})

    assert response.status_code == 200
    table = [as_python(row) for row in response.json()["rows"]]
    expected = orm_rows(five_leads)
    assert [row["id"] for row in table] == [row["id"] for row in expected]
    assert all(set(got) == set(want) for got, want in zip(table, expected, strict=True))
    differences = [
        f"lead {want['id']}.{key}: table {got.get(key)!r}, ORM {want[key]!r}"
        for got, want in zip(table, expected, strict=True)
        for key in sorted(set(got) | set(want))
        if got.get(key) != want.get(key)
    ]
    assert not differences, "\n".join(differences)
