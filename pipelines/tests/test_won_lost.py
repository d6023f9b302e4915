"""SPEC §12 «Won and lost»: stage outcomes through the stages API, and the loss reason of a move into a lost stage."""

import pytest

from pipelines.models import Lead, LeadHistory, LossReason, Stage
from pipelines.services import loss_reason_create

STAGES_URL = "/api/pipelines/stages"


def _assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    if field is not None:
        assert field in body["details"], body
    return body


def _stage_rows() -> list[tuple]:
    return list(Stage.objects.order_by("id").values_list("id", "name", "is_closed", "outcome", "order_index"))


def _lead_row(lead: Lead) -> tuple:
    return Lead.objects.filter(pk=lead.pk).values_list("stage_id", "loss_reason_id", "version").get()


@pytest.fixture
def won(stages) -> Stage:
    return stages[3]


@pytest.fixture
def lost(stages) -> Stage:
    return stages[4]


@pytest.fixture
def reason(tenant, pipeline) -> LossReason:
    return LossReason.objects.get(tenant=tenant, name="Дорого")


@pytest.fixture
def foreign_reason(other_tenant, other_pipeline) -> LossReason:
    return LossReason.objects.get(tenant=other_tenant, name="Дорого")


# ---------------------------------------------------------------- stage outcomes


def test_stages_show_their_outcome(owner_client, pipeline):
    stages = owner_client.get(f"/api/pipelines/{pipeline.pk}").json()["stages"]
    assert [(s["name"], s["is_closed"], s["outcome"]) for s in stages] == [
        ("Новые", False, None),
        ("В работе", False, None),
        ("Переговоры", False, None),
        ("Успешно", True, "won"),
        ("Отказ", True, "lost"),
    ]


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_stage_created_with_an_outcome_is_closed(owner_client, pipeline, outcome):
    response = owner_client.post(
        f"/api/pipelines/{pipeline.pk}/stages", {"name": "Итог", "outcome": outcome}, format="json"
    )

    assert response.status_code == 201, response.content
    assert (response.json()["is_closed"], response.json()["outcome"]) == (True, outcome)
    assert Stage.objects.filter(pk=response.json()["id"], is_closed=True, outcome=outcome).exists()


def test_a_stage_created_without_an_outcome_is_open_with_none(owner_client, pipeline):
    response = owner_client.post(f"/api/pipelines/{pipeline.pk}/stages", {"name": "Демо"}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["is_closed"], response.json()["outcome"]) == (False, None)


def test_an_open_stage_with_an_outcome_is_refused(owner_client, pipeline):
    before = _stage_rows()
    response = owner_client.post(
        f"/api/pipelines/{pipeline.pk}/stages", {"name": "Итог", "outcome": "won", "is_closed": False}, format="json"
    )

    _assert_error(response, 400, "validation_error", "is_closed")
    assert _stage_rows() == before


@pytest.mark.parametrize("outcome", ["WON", "success", "", 1, True, ["won"]])
def test_an_unknown_outcome_is_refused(owner_client, pipeline, stages, outcome):
    before = _stage_rows()

    _assert_error(
        owner_client.post(f"/api/pipelines/{pipeline.pk}/stages", {"name": "X", "outcome": outcome}, format="json"),
        400,
        "validation_error",
        "outcome",
    )
    _assert_error(
        owner_client.patch(f"{STAGES_URL}/{stages[1].pk}", {"outcome": outcome}, format="json"),
        400,
        "validation_error",
        "outcome",
    )
    assert _stage_rows() == before


def test_giving_an_open_stage_an_outcome_closes_it(owner_client, stages):
    response = owner_client.patch(f"{STAGES_URL}/{stages[2].pk}", {"outcome": "lost"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["is_closed"], response.json()["outcome"]) == (True, "lost")


def test_reopening_a_won_stage_is_refused_until_its_outcome_is_cleared(owner_client, won):
    before = _stage_rows()
    _assert_error(
        owner_client.patch(f"{STAGES_URL}/{won.pk}", {"is_closed": False}, format="json"),
        400,
        "validation_error",
        "is_closed",
    )
    assert _stage_rows() == before

    response = owner_client.patch(f"{STAGES_URL}/{won.pk}", {"outcome": None, "is_closed": False}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["is_closed"], response.json()["outcome"]) == (False, None)


def test_clearing_the_outcome_leaves_the_stage_closed(owner_client, lost):
    response = owner_client.patch(f"{STAGES_URL}/{lost.pk}", {"outcome": None}, format="json")

    assert (response.json()["is_closed"], response.json()["outcome"]) == (True, None)


def test_a_manager_may_not_set_an_outcome(manager_client, stages):
    before = _stage_rows()
    _assert_error(
        manager_client.patch(f"{STAGES_URL}/{stages[1].pk}", {"outcome": "won"}, format="json"), 403, "forbidden"
    )
    assert _stage_rows() == before


# ---------------------------------------------------------------- the loss reason of a move


def _move(client, lead, body):
    return client.patch(f"/api/leads/{lead.pk}/stage", body, format="json")


def test_a_move_into_the_lost_stage_records_the_reason(owner_client, owner, make_lead, lost, reason):
    lead = make_lead()

    response = _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": reason.pk})

    assert response.status_code == 200, response.content
    assert (response.json()["stage_id"], response.json()["loss_reason_id"]) == (lost.pk, reason.pk)
    assert _lead_row(lead)[:2] == (lost.pk, reason.pk)
    entry = LeadHistory.objects.get(lead=lead)
    assert entry.kind == "stage_changed"
    assert entry.text == "Стадия: «Новые» → «Отказ», причина отказа: «Дорого»"
    assert entry.user_id == owner.pk
    history = owner_client.get(f"/api/leads/{lead.pk}/history").json()["history"]
    assert [(h["kind"], h["to_stage_id"]) for h in history] == [("stage_changed", lost.pk)]
    assert "«Дорого»" in history[0]["text"]


def test_the_reason_is_optional(owner_client, make_lead, lost):
    lead = make_lead()

    response = _move(owner_client, lead, {"stage_id": lost.pk})

    assert response.status_code == 200, response.content
    assert response.json()["loss_reason_id"] is None
    assert LeadHistory.objects.get(lead=lead).text == "Стадия: «Новые» → «Отказ»"


def test_a_null_reason_is_no_reason(owner_client, make_lead, lost):
    response = _move(owner_client, make_lead(), {"stage_id": lost.pk, "loss_reason_id": None})

    assert (response.status_code, response.json()["loss_reason_id"]) == (200, None)


@pytest.mark.parametrize("target", [0, 1, 3], ids=["first", "open", "won"])
def test_a_reason_with_a_move_into_another_stage_is_refused(owner_client, make_lead, stages, reason, target):
    lead = make_lead(stage=stages[2])
    before = _lead_row(lead)

    body = _assert_error(
        _move(owner_client, lead, {"stage_id": stages[target].pk, "loss_reason_id": reason.pk}),
        400,
        "validation_error",
        "loss_reason_id",
    )

    assert "lost stage" in body["details"]["loss_reason_id"][0]
    assert _lead_row(lead) == before
    assert not LeadHistory.objects.filter(lead=lead).exists()


def test_a_foreign_reason_is_a_400_naming_the_field(owner_client, make_lead, lost, foreign_reason):
    lead = make_lead()
    before = _lead_row(lead)

    _assert_error(
        _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": foreign_reason.pk}),
        400,
        "validation_error",
        "loss_reason_id",
    )
    assert _lead_row(lead) == before


@pytest.mark.parametrize("value", ["abc", True, 0, -1, 2**63, 1.5, {"id": 1}, [1], "999999"])
def test_a_malformed_or_unknown_reason_is_refused(owner_client, make_lead, lost, value):
    lead = make_lead()
    before = _lead_row(lead)

    _assert_error(
        _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": value}),
        400,
        "validation_error",
        "loss_reason_id",
    )
    assert _lead_row(lead) == before


def test_an_inactive_reason_is_refused(owner_client, tenant, make_lead, lost):
    retired = loss_reason_create(tenant=tenant, name="Старая причина", is_active=False)
    lead = make_lead()
    before = _lead_row(lead)

    body = _assert_error(
        _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": retired.pk}),
        400,
        "validation_error",
        "loss_reason_id",
    )

    assert "no longer used" in body["message"]
    assert _lead_row(lead) == before


def test_leaving_the_lost_stage_clears_the_reason(owner_client, make_lead, stages, lost, reason):
    lead = make_lead()
    _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": reason.pk})

    response = _move(owner_client, lead, {"stage_id": stages[1].pk})

    assert (response.json()["stage_id"], response.json()["loss_reason_id"]) == (stages[1].pk, None)
    assert _lead_row(lead)[:2] == (stages[1].pk, None)
    assert owner_client.get(f"/api/leads/{lead.pk}").json()["loss_reason_id"] is None


def test_naming_the_reason_of_a_lead_already_lost(owner_client, tenant, make_lead, lost, reason):
    lead = make_lead()
    _move(owner_client, lead, {"stage_id": lost.pk})
    version = _lead_row(lead)[2]

    response = _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": reason.pk})

    assert response.status_code == 200, response.content
    assert _lead_row(lead) == (lost.pk, reason.pk, version + 1)
    latest = LeadHistory.objects.filter(lead=lead).latest("id")
    assert (latest.kind, latest.text) == ("updated", "Причина отказа: «Дорого»")
    # The same move again changes nothing.
    assert _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": reason.pk}).status_code == 200
    assert _lead_row(lead) == (lost.pk, reason.pk, version + 1)
    assert LeadHistory.objects.filter(lead=lead).count() == 2


def test_the_move_with_a_reason_emits_one_update(owner_client, make_lead, lost, reason, events):
    lead = make_lead()

    with events.capture():
        _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": reason.pk})

    assert [(e.event_type, e.lead_id) for e in events.sent] == [("lead_updated", lead.pk)]


def test_a_manager_names_the_reason_on_their_own_lead_only(
    manager_client, manager, other_manager, make_lead, lost, reason
):
    own = make_lead(assigned_to=manager)
    colleagues = make_lead(assigned_to=other_manager)
    before = _lead_row(colleagues)

    response = _move(manager_client, own, {"stage_id": lost.pk, "loss_reason_id": reason.pk})

    assert (response.status_code, response.json()["loss_reason_id"]) == (200, reason.pk)
    assert _move(manager_client, colleagues, {"stage_id": lost.pk, "loss_reason_id": reason.pk}).status_code in (
        403,
        404,
    )
    assert _lead_row(colleagues) == before


def test_the_lead_list_shows_the_reason(owner_client, make_lead, lost, reason):
    lead = make_lead()
    _move(owner_client, lead, {"stage_id": lost.pk, "loss_reason_id": reason.pk})

    rows = owner_client.get("/api/leads").json()["leads"]

    assert [(row["id"], row["loss_reason_id"]) for row in rows] == [(lead.pk, reason.pk)]
