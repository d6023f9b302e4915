"""Admin isolation matrix: every admin URL, every registered ModelAdmin and every back-office page (issue 11).

The attacker is a staff owner of one tenant; the victim tenant's rows all carry the marker `SECRETA` (names,
emails, notes, secrets), so a leak through any label, popup, autocomplete, history, filter, inline or error
message shows up in a body. The URL names come from `admin.site.get_urls()` and the admins from
`admin.site._registry`: a new ModelAdmin, model admin URL or back-office URL (settings.BACKOFFICE_URLS) without a
case fails `test_every_admin_url_has_a_case` / `test_every_registered_admin_has_a_case`. Every probe must leave
the database exactly as it was; positive controls on the attacker's own rows show no denial is an accident.
"""

import io
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm.admin_base import SuperuserOnlyAdminMixin, TenantScopedAdminMixin, TenantScopedInlineFormSet
from crm.models import IdempotencyKey, Tenant, User
from crm.tests.factories import UserFactory
from deals.models import Calculation, Client, Deal, DealTask, Payment, Policy
from deals.tests.factories import (
    CalculationFactory,
    ClientFactory,
    DealFactory,
    DealTaskFactory,
    PaymentFactory,
    PolicyFactory,
)
from events.models import WebhookDelivery, WebhookSubscription
from pipelines.models import Lead, LossReason, Pipeline, Stage
from pipelines.services import default_pipeline_ensure, lead_create
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory

MARKER = "SECRETA"
TERM = "zqx"  # in every victim row next to the marker: a search that would find them, without echoing the marker
_COMPARED_APPS = ("crm", "pipelines", "tasks", "deals", "events", "auth")
# Related models that hold no tenant data: a raw-id parameter naming one of them is not a probe.
NOT_TENANT_DATA = {Permission, ContentType}


# ---------------------------------------------------------------- the world


@dataclass
class World:
    victim: dict  # model -> the victim tenant's row (what the attacker must never see or touch)
    own: dict  # model -> the attacker's own row (positive controls)
    attacker: User
    victim_tenant: Tenant


def _marked(text: str) -> str:
    return f"{MARKER} {TERM} {text}"


@pytest.fixture
def world(tenant, other_tenant, owner, foreign_owner) -> World:
    other_tenant.name = _marked("Globex")
    other_tenant.whatsapp_app_secret = f"{MARKER}-wa-secret"
    other_tenant.whatsapp_verify_token = f"{MARKER}-verify"
    other_tenant.save()
    foreign_owner.full_name, foreign_owner.email = _marked("Владелец"), f"{MARKER.lower()}-{TERM}@globex.test"
    foreign_owner.save()
    victim_pipeline, _ = default_pipeline_ensure(tenant=other_tenant)
    Pipeline.objects.filter(pk=victim_pipeline.pk).update(name=_marked("воронка"))
    Stage.objects.filter(pipeline=victim_pipeline).update(name=_marked("стадия"))
    victim_lead = lead_create(
        tenant=other_tenant, name=_marked("лид"), phone=None, email="a@globex.test", assigned_to=foreign_owner
    )
    # An unnamed lead is labelled by its email: a leak of the email is a leak too.
    lead_create(tenant=other_tenant, name="", phone=None, email=f"{MARKER.lower()}-{TERM}@lead.test")
    victim_client = ClientFactory(tenant=other_tenant, full_name=_marked("клиент"))
    victim_deal = DealFactory(
        tenant=other_tenant, client=victim_client, sales_agent=foreign_owner, title=_marked("сделка")
    )
    victim = {
        Tenant: other_tenant,
        User: foreign_owner,
        Pipeline: victim_pipeline,
        Stage: victim_pipeline.stages.order_by("order_index").first(),
        Lead: victim_lead,
        LeadTask: LeadTaskFactory(lead=victim_lead, note=_marked("задача")),
        Client: victim_client,
        Deal: victim_deal,
        **_deal_objects(victim_deal, foreign_owner, _marked),
        IdempotencyKey: _idempotency_key(other_tenant, foreign_owner),
        Group: Group.objects.create(name=_marked("группа")),
        LossReason: LossReason.objects.create(tenant=other_tenant, name=_marked("причина")),
        **_webhook_objects(other_tenant, _marked),
    }
    own_pipeline, _ = default_pipeline_ensure(tenant=tenant)
    own_lead = lead_create(tenant=tenant, name="Свой лид", phone=None, email="own@acme.test", assigned_to=owner)
    own_client = ClientFactory(tenant=tenant, full_name="Свой клиент")
    own_deal = DealFactory(tenant=tenant, client=own_client, sales_agent=owner, title="Своя сделка")
    colleague = UserFactory(tenant=tenant, role="manager", username="colleague")
    own = {
        Tenant: tenant,
        User: colleague,
        Pipeline: own_pipeline,
        Stage: own_pipeline.stages.order_by("order_index").first(),
        Lead: own_lead,
        LeadTask: LeadTaskFactory(lead=own_lead, note="Своя задача"),
        Client: own_client,
        Deal: own_deal,
        **_deal_objects(own_deal, owner, lambda text: f"Свой {text}"),
        # A colleague's stored response: internal, so even the own tenant's owner may not read it.
        IdempotencyKey: _idempotency_key(tenant, colleague),
        Group: victim[Group],
        LossReason: LossReason.objects.create(tenant=tenant, name="Своя причина"),
        **_webhook_objects(tenant, lambda text: f"Своя {text}"),
    }
    return World(victim=victim, own=own, attacker=owner, victim_tenant=other_tenant)


def _deal_objects(deal, user, name) -> dict:
    """A deal's calculation, policy, payment and task, each named through `name` (the victim's carry the marker)."""
    calculation = CalculationFactory(deal=deal, insurance_company=name("страховая"))
    policy = PolicyFactory(deal=deal, calculation=calculation, insurer=name("страховщик"), policy_number=name("П-1"))
    return {
        Calculation: calculation,
        Policy: policy,
        Payment: PaymentFactory(policy=policy, notes=name("платёж"), external_ref=name("ref")),
        DealTask: DealTaskFactory(tenant=deal.tenant, deal=deal, subject=name("задача по сделке"), assignee=user),
    }


def _webhook_objects(tenant, name) -> dict:
    """A webhook subscription (its URL, description and secret named through `name`) and one attempt of its log."""
    slug = name("hooks").replace(" ", "-").lower()
    subscription = WebhookSubscription.objects.create(
        tenant=tenant,
        url=f"https://hooks.example/{slug}",
        events=["deal_created"],
        description=name("подписка"),
        secret=f"whsec_{slug}",
    )
    delivery = WebhookDelivery.objects.create(
        tenant=tenant,
        subscription=subscription,
        event_id=f"evt_{tenant.pk}_1",
        event_type="deal_created",
        attempt=1,
        status="failed",
        error=name("ошибка"),
    )
    return {WebhookSubscription: subscription, WebhookDelivery: delivery}


def _idempotency_key(tenant, user) -> IdempotencyKey:
    return IdempotencyKey.objects.create(
        tenant=tenant,
        user=user,
        key=uuid.uuid4(),
        request_fingerprint="f" * 64,
        response_status=201,
        response_body={"full_name": _marked("ответ")},
    )


def database_rows() -> dict[str, list[dict]]:
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for label in _COMPARED_APPS
        for model in apps.get_app_config(label).get_models()
    }


@pytest.fixture
def attacker(client, world):
    return _logged_in(client, world, "owner")


def _logged_in(client, world, role):
    client.user = world.attacker if role == "owner" else UserFactory(tenant=world.own[Tenant], role=role)
    client.force_login(client.user)
    return client


def body_text(response) -> str:
    """What a user sees of a response: the page, or the cells of a streamed CSV/XLSX export."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        sheet = load_workbook(io.BytesIO(raw), read_only=True).active
        return "\n".join(";".join(str(cell) for cell in row) for row in sheet.iter_rows(values_only=True))
    return raw.decode("utf-8-sig", errors="replace")


def assert_no_leak(response, world: World, *, echoed: str = "") -> None:
    body = body_text(response)
    body = body.replace(echoed, "") if echoed else body
    assert MARKER not in body.upper(), f"{response.status_code} {response.request['PATH_INFO']}: victim data shown"
    assert world.victim_tenant.webhook_key not in body


def assert_refused(response, world: World, allowed=(302, 403, 404)) -> None:
    assert response.status_code in allowed, (response.status_code, response.request["PATH_INFO"])
    assert_no_leak(response, world)


# ---------------------------------------------------------------- routes from the admin site


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


def admin_url_names() -> set[str]:
    """Every route of the admin site: its name, or its route for the unnamed ones."""
    return {name or route for route, name in _walk(admin.site.get_urls())}


_MODEL_PAGES = ("changelist", "add", "history", "delete", "change")


def _page_names(model) -> set[str]:
    opts = model._meta
    return {f"{opts.app_label}_{opts.model_name}_{page}" for page in _MODEL_PAGES} | {
        f"{opts.app_label}/{opts.model_name}/<path:object_id>/"  # Django's redirect to the change page
    }


def _registered() -> dict:
    return dict(admin.site._registry)


def _get_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def _unchanged(before):
    assert database_rows() == before, "a refused admin request changed the database"


# ---------------------------------------------------------------- every registered ModelAdmin


@dataclass(frozen=True)
class AdminCase:
    """What each staff role may open of this admin on its own tenant; a role in `closed_to` gets 403 everywhere."""

    closed_to: frozenset = frozenset()
    add_closed_to: frozenset = frozenset()
    internal: bool = False  # superuser-only (crm.admin_base.SuperuserOnlyAdminMixin)


STAFF = frozenset({"owner", "rop"})
ADMIN_CASES = {
    # Tenant settings are owner and admin business (SPEC §15); tenants are created by platform superusers.
    Tenant: AdminCase(closed_to=frozenset({"rop"}), add_closed_to=STAFF),
    User: AdminCase(add_closed_to=frozenset({"rop"})),  # owners manage accounts, ROPs look
    IdempotencyKey: AdminCase(closed_to=STAFF, internal=True),
    Group: AdminCase(closed_to=STAFF, internal=True),
    Pipeline: AdminCase(),
    Lead: AdminCase(),
    LeadTask: AdminCase(),
    Client: AdminCase(),
    Deal: AdminCase(),
    Calculation: AdminCase(),
    Policy: AdminCase(),
    Payment: AdminCase(),
    DealTask: AdminCase(),
    LossReason: AdminCase(),
    # Webhooks are owner and admin business, as in the API (SPEC §14); the delivery log is written by deliveries.
    WebhookSubscription: AdminCase(closed_to=frozenset({"rop"})),
    WebhookDelivery: AdminCase(closed_to=frozenset({"rop"}), add_closed_to=STAFF),
}


def test_every_registered_admin_has_a_case():
    assert set(_registered()) == set(ADMIN_CASES)
    for model, model_admin in _registered().items():
        internal = isinstance(model_admin, SuperuserOnlyAdminMixin)
        assert internal or isinstance(model_admin, TenantScopedAdminMixin), f"{model} admin is not tenant-scoped"
        assert internal is ADMIN_CASES[model].internal
        for inline in model_admin.inlines:
            assert issubclass(inline, TenantScopedAdminMixin), inline
            assert issubclass(inline.formset, TenantScopedInlineFormSet), inline


def _changelist_probes(model, model_admin, world):
    """Search with the victim's term, each related list filter with the victim's id, and a filter not offered."""
    yield {"q": TERM}, 200
    for item in model_admin.get_list_filter(_get_request(world.attacker)):
        field_name = item[0] if isinstance(item, list | tuple) else item
        if not isinstance(field_name, str):
            yield {item.parameter_name: "nonsense"}, 400
            continue
        field = model._meta.get_field(field_name)
        if field.is_relation:
            victim_id = getattr(world.victim[field.related_model], field.target_field.attname)
            yield {f"{field_name}__{field.target_field.name}__exact": str(victim_id)}, 200
    yield {"tenant__id__exact": world.victim_tenant.pk}, 400


@pytest.mark.parametrize("role", sorted(STAFF))
@pytest.mark.parametrize("model", list(ADMIN_CASES), ids=lambda model: model._meta.label)
def test_model_admin_isolation(client, world, model, role):
    attacker = _logged_in(client, world, role)
    model_admin = _registered()[model]
    case = ADMIN_CASES[model]
    internal = role in case.closed_to
    victim, own = world.victim[model], world.own[model]
    before = database_rows()

    # The changelist: never a victim row, whatever the search or filter; a filter not offered is a 400.
    listing = attacker.get(_url(model, "changelist"))
    assert listing.status_code == (403 if internal else 200)
    assert_no_leak(listing, world)
    if not internal:
        for params, status in _changelist_probes(model, model_admin, world):
            response = attacker.get(_url(model, "changelist"), params)
            assert response.status_code == status, params
            assert_no_leak(response, world)
            if status == 200:
                assert victim.pk not in {row.pk for row in response.context["cl"].result_list}, params

    # The victim's object behind every object page, read and written.
    for page in ("change", "history", "delete"):
        assert_refused(attacker.get(_url(model, page, victim.pk), follow=True), world, allowed=(200, 403, 404))
        assert_refused(attacker.post(_url(model, page, victim.pk), {"post": "yes", "name": "x"}), world)
    assert_refused(attacker.get(f"{_url(model, 'changelist')}{victim.pk}/"), world, allowed=(301, 302, 403, 404))

    # The add page with every related field named by the victim's id: no label, no initial value.
    params = _raw_id_params(model, world)
    add = attacker.get(_url(model, "add"), params)
    assert add.status_code == (403 if internal or role in case.add_closed_to else 200)
    assert_no_leak(add, world)

    # Every action offered, posted with the victim's pk (and Django's delete action, which staff are not offered).
    for action in [*model_admin.get_actions(_get_request(attacker.user)), "delete_selected"]:
        response = attacker.post(_url(model, "changelist"), {"action": action, "_selected_action": [victim.pk]})
        assert_refused(response, world, allowed=(200, 302, 403))
    _unchanged(before)

    # Positive control: the attacker's own row opens (internal tables stay closed even then).
    assert attacker.get(_url(model, "change", own.pk)).status_code == (403 if internal else 200)


def _raw_id_params(model, world) -> dict:
    params = {}
    for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
        if not field.is_relation or field.related_model in NOT_TENANT_DATA:
            continue
        assert field.related_model in world.victim, f"{model.__name__}.{field.name}: no victim row to probe with"
        params[field.name] = str(world.victim[field.related_model].pk)
    return params


@pytest.mark.parametrize("model", list(ADMIN_CASES), ids=lambda model: model._meta.label)
def test_autocomplete_shows_no_victim_rows(attacker, world, model):
    """`/admin/autocomplete/` searches the target's admin for any relation pointing at it (widget or not)."""
    model_admin = _registered()[model]
    sources = [
        (source, field)
        for source in apps.get_models()
        for field in [*source._meta.concrete_fields, *source._meta.many_to_many]
        if field.is_relation and field.related_model is model
    ]
    if not sources or not model_admin.search_fields:
        pytest.skip("nothing points here or the admin has no search: Django's autocomplete refuses it")
    source, field = sources[0]
    for term in ("", TERM):
        params = {"app_label": source._meta.app_label, "model_name": source._meta.model_name}
        response = attacker.get(reverse("admin:autocomplete"), {**params, "field_name": field.name, "term": term})
        assert_no_leak(response, world)
        if "owner" in ADMIN_CASES[model].closed_to:
            assert response.status_code == 403
            continue
        assert response.status_code == 200
        ids = {row["id"] for row in response.json()["results"]}
        assert str(world.victim[model].pk) not in ids
        if term == "":
            assert str(world.own[model].pk) in ids


def test_user_password_page_of_a_victim(attacker, world):
    victim = world.victim[User]
    url = reverse("admin:auth_user_password_change", args=[victim.pk])
    before = database_rows()
    assert_refused(attacker.get(url), world)
    assert_refused(attacker.post(url, {"password1": "Hijack-pass-123", "password2": "Hijack-pass-123"}), world)
    _unchanged(before)
    assert attacker.get(reverse("admin:auth_user_password_change", args=[world.own[User].pk])).status_code == 200


# ---------------------------------------------------------------- the site's own pages and the back-office pages


def _site_pages(attacker, world):
    yield attacker.get(reverse("admin:index"))
    for app_label in ("crm", "auth", "pipelines", "tasks", "deals", "events"):
        yield attacker.get(reverse("admin:app_list", args=[app_label]))
    yield attacker.get(reverse("admin:login"))
    yield attacker.get(reverse("admin:password_change"))
    yield attacker.get(reverse("admin:password_change_done"))
    yield attacker.get(reverse("admin:jsi18n"))
    for model, victim in world.victim.items():
        content_type = ContentType.objects.get_for_model(model)
        yield attacker.get(reverse("admin:view_on_site", args=[content_type.pk, victim.pk]))
    yield attacker.get(f"/admin/{world.victim[Lead].pk}/")  # the catch-all
    yield attacker.post(reverse("admin:logout"))


def _board_pages(attacker, world):
    own, victim = world.own, world.victim
    yield attacker.get(reverse("admin:pipelines_pipeline_board", args=[victim[Pipeline].pk])), 404
    yield attacker.get(reverse("admin:pipelines_pipeline_board", args=[own[Pipeline].pk])), 200
    yield attacker.get(reverse("admin:pipelines_pipeline_board", args=[own[Pipeline].pk]), {"assignee": "x"}), 200
    summary = "admin:pipelines_pipeline_board_summary"
    yield attacker.get(reverse(summary, args=[victim[Pipeline].pk])), 404
    yield attacker.get(reverse(summary, args=[own[Pipeline].pk])), 200
    card = "admin:pipelines_pipeline_board_card"
    yield attacker.get(reverse(card, args=[own[Pipeline].pk, victim[Lead].pk])), 404
    yield attacker.get(reverse(card, args=[victim[Pipeline].pk, victim[Lead].pk])), 404
    move = "admin:pipelines_pipeline_board_move"
    body = json.dumps({"stage_id": victim[Stage].pk})
    yield attacker.post(reverse(move, args=[own[Pipeline].pk, own[Lead].pk]), body, "application/json"), 400
    yield attacker.post(reverse(move, args=[own[Pipeline].pk, victim[Lead].pk]), body, "application/json"), 404
    yield attacker.post(reverse(move, args=[victim[Pipeline].pk, victim[Lead].pk]), body, "application/json"), 404


def _default_board_pages(attacker, world):
    # The «Доска» link: always the attacker's own default pipeline.
    response = attacker.get(reverse("admin:pipelines_default_board"))
    yield response, 302
    assert response["Location"] == reverse("admin:pipelines_pipeline_board", args=[world.own[Pipeline].pk])


def _deal_work_pages(attacker, world):
    # The deal page's status buttons and journal note: POST only, the victim's deal not found, a stale click refused.
    for name in ("deals_deal_status", "deals_deal_journal"):
        yield attacker.post(reverse(f"admin:{name}", args=[world.victim[Deal].pk]), {"status": "closed"}), 404
        yield attacker.get(reverse(f"admin:{name}", args=[world.own[Deal].pk])), 405
    stale = {"status": "closed", "version": world.own[Deal].version + 1}
    yield attacker.post(reverse("admin:deals_deal_status", args=[world.own[Deal].pk]), stale), 302


def _export_pages(attacker, world):
    for name, model in (("pipelines_lead", Lead), ("deals_client", Client), ("deals_deal", Deal)):
        url = reverse(f"admin:{name}_export", args=["csv"])
        yield attacker.get(url, {"q": TERM}), 200
        yield attacker.get(url, {"tenant__id__exact": world.victim_tenant.pk}), 400
        yield attacker.get(reverse(f"admin:{name}_export", args=["xlsx"])), 200
        for params, status in _changelist_probes(model, _registered()[model], world):
            yield attacker.get(url, params), status


def _import_pages(attacker, world):
    for name, header, value in (
        ("pipelines_lead", "Имя;Email;Воронка", f"Новый;n@acme.test;{world.victim[Pipeline].name}"),
        ("deals_client", "Полное наименование;ИНН", "Новый клиент;7701234567"),
    ):
        url = reverse(f"admin:{name}_import")
        yield attacker.get(url, {"tenant": world.victim_tenant.pk}), 200, ""
        upload = io.BytesIO(f"{header}\n{value}\n".encode())
        upload.name = "import.csv"
        # The preview only: a dry run that is rolled back. The victim's pipeline name typed by the attacker is echoed.
        yield attacker.post(url, {"file": upload}), 200, world.victim[Pipeline].name


def _dashboard_pages(attacker, world):
    # `?tenant=` picks a tenant for platform superusers only: staff always get their own.
    yield attacker.get(reverse("admin:backoffice_dashboard"), {"tenant": world.victim_tenant.pk}), 200


BACKOFFICE_CASES = {
    "backoffice_dashboard": _dashboard_pages,
    "pipelines_default_board": _default_board_pages,
    "pipelines_pipeline_board": _board_pages,
    "pipelines_pipeline_board_card": _board_pages,
    "pipelines_pipeline_board_summary": _board_pages,
    "pipelines_pipeline_board_move": _board_pages,
    "deals_deal_status": _deal_work_pages,
    "deals_deal_journal": _deal_work_pages,
    "pipelines_lead_export": _export_pages,
    "deals_client_export": _export_pages,
    "deals_deal_export": _export_pages,
    "pipelines_lead_import": _import_pages,
    "deals_client_import": _import_pages,
}
SITE_NAMES = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "autocomplete",  # test_autocomplete_shows_no_victim_rows
    "jsi18n",
    "view_on_site",
    "app_list",
    "(?P<url>.*)$",  # the catch-all
    "auth_user_password_change",  # test_user_password_page_of_a_victim
}


def test_every_admin_url_has_a_case():
    covered = SITE_NAMES | set(BACKOFFICE_CASES) | {name for model in ADMIN_CASES for name in _page_names(model)}
    routed = admin_url_names()
    assert sorted(routed - covered) == [], "admin URLs without an isolation case"
    assert sorted(covered - routed) == [], "cases for admin URLs that are no longer routed"


def test_site_pages_show_no_victim_data(attacker, world):
    before = database_rows()
    for response in _site_pages(attacker, world):
        assert response.status_code in (200, 302, 404), (response.status_code, response.request["PATH_INFO"])
        assert_no_leak(response, world)
    _unchanged(before)


_PAGE_GROUPS = {pages.__name__: pages for pages in BACKOFFICE_CASES.values()}


@pytest.mark.parametrize("group", sorted(_PAGE_GROUPS))
def test_backoffice_pages(attacker, world, group):
    before = database_rows()
    for response, status, *echoed in _PAGE_GROUPS[group](attacker, world):
        assert response.status_code == status, (response.status_code, response.request["PATH_INFO"])
        assert_no_leak(response, world, echoed=echoed[0] if echoed else "")
    _unchanged(before)


def test_the_convert_action_reaches_only_the_own_tenants_leads(attacker, world):
    """«Создать сделку» (SPEC §12) with a victim's lead selected beside an own one: only the own lead converts."""
    victim_lead, own_lead = world.victim[Lead], world.own[Lead]
    data = {"action": "convert_to_deals", "_selected_action": [victim_lead.pk, own_lead.pk]}

    response = attacker.post(_url(Lead, "changelist"), data, follow=True)

    assert response.status_code == 200
    assert_no_leak(response, world)
    assert Lead.objects.get(pk=own_lead.pk).deal_id is not None
    assert Lead.objects.get(pk=victim_lead.pk).deal_id is None
    assert not Deal.objects.filter(tenant=world.victim_tenant, lead_id__isnull=False).exists()
    assert Client.objects.filter(tenant=world.victim_tenant).count() == 1


def test_the_renewal_action_reaches_only_the_own_tenants_policies(attacker, world):
    """«Начать продление» (SPEC §13) with a victim's active policy selected beside an own one: only the own renews."""
    victim_policy, own_policy = world.victim[Policy], world.own[Policy]
    Policy.objects.filter(pk__in=[victim_policy.pk, own_policy.pk]).update(status="active")
    data = {"action": "start_renewal", "_selected_action": [victim_policy.pk, own_policy.pk]}

    response = attacker.post(_url(Policy, "changelist"), data, follow=True)

    assert response.status_code == 200
    assert_no_leak(response, world)
    assert Deal.objects.filter(renews_policy=own_policy, tenant=own_policy.tenant).count() == 1
    assert not Deal.objects.filter(renews_policy=victim_policy).exists()
    assert Deal.objects.filter(tenant=world.victim_tenant).count() == 1


@pytest.mark.parametrize(
    ("model", "params"),
    [(Policy, {"renewal": value}) for value in ("30", "60", "90", "month", "due")] + [(Payment, {"overdue": "yes"})],
)
def test_the_due_filters_list_no_victim_rows(attacker, world, model, params):
    """The renewal and overdue filters (SPEC §13) over due rows of both tenants: only the own tenant's."""
    today = timezone.localdate(timezone=world.own[Tenant].tzinfo)
    for which in (world.victim, world.own):
        Policy.objects.filter(pk=which[Policy].pk).update(status="renewal_due", effective_to=today)
        Payment.objects.filter(pk=which[Payment].pk).update(planned_date=today - timedelta(days=3))

    response = attacker.get(_url(model, "changelist"), params)

    assert response.status_code == 200
    assert_no_leak(response, world)
    assert {row.pk for row in response.context["cl"].result_list} == {world.own[model].pk}
