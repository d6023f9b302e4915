"""The one tenancy layer (STYLE §2.3, SPEC §15): its behaviour, and a scan that keeps every read going through it.

The scan reads every non-test, non-migration module of the project apps and fails on
- a tenant keyword in a query (`.filter(tenant=…)`, `tenant_id=`, `pipeline__tenant=`, `Q(tenant…)`): use
  `Model.objects.for_tenant(tenant)` / `.visible_to(user)`, or `crm.tenancy.tenant_users` / `scoped` for the user
  model and other plain querysets;
- a read of a tenant model (`Model.objects.…` of a `TenantModel`) without `for_tenant`, `visible_to`,
  `visible_through` or `unscoped` in its chain (writes — `create`, `bulk_create` — name their tenant explicitly;
  a viewset's class-level `queryset` is scoped by `TenantScopedViewSet.get_queryset`; a correlated subquery with
  `OuterRef` inherits its outer query's scope);
- a new `unscoped()` or `dangerously_…` call.
Each known exception is on ALLOWED with its count and reason; a new one fails with file:line and what to do, and an
entry whose sites went away fails too, so the list only shrinks.
"""

import ast
from collections import Counter
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db.models import Q
from rest_framework.permissions import AllowAny

from crm.api.viewsets import TenantScopedViewSet
from crm.errors import Forbidden
from crm.tenancy import TenantModel, check_may_touch, may_touch, tenant_users
from crm.tests.factories import UserFactory
from pipelines.models import Lead
from tasks.models import LeadTask
from tasks.tests.factories import LeadTaskFactory, make_lead

ROOT = Path(settings.BASE_DIR)
SCANNED_APPS = ("crm", "pipelines", "tasks", "deals", "events")
LAYER = "crm/tenancy.py"

TENANT_KEYWORD = "tenant-keyword"
UNSCOPED_READ = "unscoped-read"
ESCAPE = "escape-hatch"

HOW_TO_FIX = {
    TENANT_KEYWORD: "read through Model.objects.for_tenant(tenant)/.visible_to(user), or crm.tenancy.tenant_users()/"
    "scoped() for the user model and plain querysets",
    UNSCOPED_READ: "start the chain with .for_tenant(tenant) or .visible_to(user) (crm.tenancy); if there truly is "
    "no tenant (a command, a webhook resolved by its key, a superuser path), use .unscoped() and add it to ALLOWED "
    "with a reason",
    ESCAPE: "scope the read with for_tenant/visible_to; an escape needs an ALLOWED entry with a reason",
}

# (path, rule): (count, why). Files of other slices are listed here rather than edited (issue 11 is split among
# several people working at once); each count is exact, so a new site fails and a removed one asks to tighten.
ALLOWED = {
    # The back-office board: a platform superuser opens any tenant's pipeline.
    ("pipelines/board.py", ESCAPE): (1, "superuser path"),
    # The deal search's pk__in union is intersected with the viewset's tenant-and-role queryset.
    ("deals/selectors.py", ESCAPE): (2, "subquery of an already scoped queryset"),
    # The stages prefetched for scoped pipelines, the history of a loaded lead.
    ("pipelines/selectors.py", UNSCOPED_READ): (2, "rows of already scoped parents"),
    # The lead table's SQL: a registered column's expression compiled to SQL (no read), a pk__in subquery of a
    # scoped queryset (owner of the cursor code: the input slice).
    ("pipelines/table_sql.py", UNSCOPED_READ): (
        3,
        "an expression compiled, a subquery of a scoped queryset, a search's page over its scoped matches",
    ),
    # Locked re-reads by pk of a loaded lead and the stages of a loaded pipeline (owner: the input slice).
    ("pipelines/services/leads.py", UNSCOPED_READ): (4, "re-reads by pk of a loaded, scoped row"),
    # Stage and pipeline structure of one tenant's loaded pipeline (owner: the input slice, the stage race).
    ("pipelines/services/structure.py", TENANT_KEYWORD): (3, "default pipeline and pipeline cap of one tenant"),
    ("pipelines/services/structure.py", UNSCOPED_READ): (11, "re-reads by pk / rows of a loaded pipeline"),
    # Intake resolves the tenant by its webhook key, then dedupes inside it (owner: the input slice).
    ("pipelines/services/intake.py", TENANT_KEYWORD): (2, "webhook intake inside the tenant of the key"),
    ("pipelines/services/intake.py", UNSCOPED_READ): (3, "webhook intake inside the tenant of the key"),
    # Idempotency keys are looked up by (tenant, user, key): the model is not a TenantModel (owner: the API core).
    ("crm/api/idempotency.py", TENANT_KEYWORD): (1, "IdempotencyKey has no TenantQuerySet"),
    # Users of one tenant: the owner rules (owner: the identity slice); to move to crm.tenancy.tenant_users().
    ("crm/services.py", TENANT_KEYWORD): (2, "users of one tenant"),
    # Event recipients and stream authorization of one tenant (owner: the streams slice); to move to tenant_users().
    ("events/services.py", TENANT_KEYWORD): (1, "managers of the event's tenant"),
    ("events/grip.py", TENANT_KEYWORD): (1, "authentication: an active user who has a tenant (tenant__isnull)"),
    # The webhook sweep finds due subscriptions of every tenant; each delivery then reads inside its tenant.
    ("events/webhooks/delivery.py", ESCAPE): (1, "the cross-tenant sweep of due webhook subscriptions"),
}


def _project_modules():
    for app in SCANNED_APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"tests", "migrations"} or path.name.startswith("test_") or path.name == "conftest.py":
                continue
            yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def _tenant_model_names() -> set[str]:
    return {model.__name__ for model in apps.get_models() if issubclass(model, TenantModel)}


_QUERY_METHODS = {"filter", "exclude", "get", "get_or_create", "update_or_create"}
_SCOPES = {"for_tenant", "visible_to", "visible_through", "unscoped"}
_WRITES = {"create", "bulk_create", "bulk_update"}
_MANAGERS = {"objects", "_default_manager", "_base_manager"}


def _is_tenant_keyword(name: str | None) -> bool:
    return name is not None and any(part in {"tenant", "tenant_id"} for part in name.split("__"))


def _parents(tree) -> dict:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _chain_methods(node, parents) -> list[tuple[str, ast.Call]]:
    """The methods called on `node` one after another: `X.objects.a().b()` → [a, b]."""
    methods = []
    while isinstance(parent := parents.get(node), ast.Attribute):
        call = parents.get(parent)
        if not (isinstance(call, ast.Call) and call.func is parent):
            break
        methods.append((parent.attr, call))
        node = call
    return methods


def _is_viewset_queryset(node, parents) -> bool:
    """`queryset = Model.objects…` in a class body: TenantScopedViewSet.get_queryset scopes it."""
    while node in parents and not isinstance(node, ast.Assign):
        node = parents[node]
    if not isinstance(node, ast.Assign) or not isinstance(parents.get(node), ast.ClassDef):
        return False
    return any(isinstance(target, ast.Name) and target.id == "queryset" for target in node.targets)


def _correlated(calls) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "OuterRef" for _, call in calls for n in ast.walk(call))


def _findings(path: str, tree, tenant_models: set[str]):
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _QUERY_METHODS | {"Q"} and any(_is_tenant_keyword(kw.arg) for kw in node.keywords):
                yield TENANT_KEYWORD, node.lineno, f"{name}() with a tenant keyword"
            if name == "unscoped" or (name or "").startswith("dangerously_"):
                yield ESCAPE, node.lineno, f"{name}()"
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _MANAGERS
            and isinstance(node.value, ast.Name)
            and node.value.id in tenant_models
        ):
            calls = _chain_methods(node, parents)
            names = [method for method, _ in calls]
            if not names or _SCOPES & set(names) or names[0] in _WRITES:
                continue
            if _is_viewset_queryset(node, parents) or _correlated(calls):
                continue
            yield UNSCOPED_READ, node.lineno, f"{node.value.id}.{node.attr}.{'().'.join(names)}()"


def test_every_tenant_read_goes_through_the_layer():
    tenant_models = _tenant_model_names()
    found: dict[tuple[str, str], list[str]] = {}
    for path, tree in _project_modules():
        if path == LAYER:
            continue
        for rule, line, what in _findings(path, tree, tenant_models):
            found.setdefault((path, rule), []).append(f"{path}:{line}: {what}")
    problems = []
    for key, sites in sorted(found.items()):
        allowed = ALLOWED.get(key, (0, ""))[0]
        if len(sites) > allowed:
            problems += [f"{site} [{key[1]}] — {HOW_TO_FIX[key[1]]}" for site in sites]
    for key, (count, _why) in sorted(ALLOWED.items()):
        if len(found.get(key, [])) < count:
            problems.append(f"{key[0]}: ALLOWED[{key[1]}] is {count}, now {len(found.get(key, []))} — lower it")
    assert not problems, "Reads outside the tenancy layer (crm/tenancy.py):\n" + "\n".join(problems)


def test_the_scan_sees_what_it_must_refuse():
    source = """
class View:
    queryset = Lead.objects.all()

def bad(tenant, user, pipeline):
    Lead.objects.filter(tenant=tenant)
    Stage.objects.filter(pipeline__tenant=tenant)
    User.objects.get(tenant_id=1)
    Q(tenant=tenant)
    Lead.objects.get(pk=1)
    Lead.objects.all().unscoped()

def good(tenant, user, pipeline):
    Lead.objects.for_tenant(tenant).filter(pk=1)
    LeadTask.objects.visible_to(user).count()
    Lead.objects.create(tenant=tenant, name="x")
    LeadTask.objects.filter(lead=OuterRef("pk"))
"""
    found = Counter(rule for rule, _, _ in _findings("x.py", ast.parse(source), _tenant_model_names()))

    assert found == {TENANT_KEYWORD: 4, UNSCOPED_READ: 3, ESCAPE: 1}


# ---------------------------------------------------------------- the layer's behaviour


@pytest.fixture
def leads(tenant, other_tenant, manager, other_manager, foreign_owner):
    return {
        "mine": make_lead(tenant=tenant, assigned_to=manager, name="Мой"),
        "colleagues": make_lead(tenant=tenant, assigned_to=other_manager, name="Коллеги"),
        "foreign": make_lead(tenant=other_tenant, assigned_to=foreign_owner, name="Чужой"),
    }


@pytest.mark.django_db
def test_a_tenantless_superuser_reads_nothing_through_the_scope(leads):
    superuser = UserFactory(tenant=None, is_superuser=True, is_staff=True, role="owner", username="root")

    assert list(Lead.objects.for_tenant(superuser.tenant_id)) == []
    assert list(Lead.objects.for_tenant(None)) == []
    assert list(Lead.objects.visible_to(superuser)) == []
    assert list(tenant_users(None)) == []
    assert Lead.objects.unscoped().count() == 3


@pytest.mark.django_db
def test_for_tenant_reads_one_tenant_and_visible_to_narrows_a_manager(tenant, owner, manager, leads):
    assert set(Lead.objects.for_tenant(tenant)) == {leads["mine"], leads["colleagues"]}
    assert set(Lead.objects.for_tenant(tenant.pk)) == {leads["mine"], leads["colleagues"]}
    assert set(Lead.objects.visible_to(owner)) == {leads["mine"], leads["colleagues"]}
    assert list(Lead.objects.visible_to(manager)) == [leads["mine"]]
    assert set(tenant_users(tenant)) == set(type(owner).objects.filter(tenant=tenant))


@pytest.mark.django_db
def test_visible_through_takes_the_parent_rule(manager, other_manager, leads):
    on_my_lead = LeadTaskFactory(lead=leads["mine"], assigned_to=other_manager)
    mine_elsewhere = LeadTaskFactory(lead=leads["colleagues"], assigned_to=manager)

    assert list(LeadTask.objects.visible_through(manager, "lead")) == [on_my_lead]
    assert list(LeadTask.objects.visible_to(manager)) == [mine_elsewhere]


@pytest.mark.django_db
def test_may_touch_answers_by_visibility_q(
    owner, manager, other_manager, foreign_owner, leads, django_assert_num_queries
):
    superuser = UserFactory(tenant=None, is_superuser=True, is_staff=True, role="owner", username="root")
    mine, colleagues, foreign = leads["mine"], leads["colleagues"], leads["foreign"]

    # Plain `field=value` terms of visibility_q are read on the loaded row: no query.
    with django_assert_num_queries(0):
        assert may_touch(manager, mine)
        assert not may_touch(manager, colleagues)
        assert not may_touch(manager, foreign)
        assert may_touch(owner, colleagues)
        assert not may_touch(owner, foreign)
        assert not may_touch(foreign_owner, mine)
        assert may_touch(superuser, foreign)
        assert may_touch(None, foreign)
    with pytest.raises(Forbidden):
        check_may_touch(manager, colleagues)


@pytest.mark.django_db
def test_may_touch_follows_the_model_rule_not_a_copy(manager, other_manager, leads, monkeypatch):
    task = LeadTaskFactory(lead=leads["colleagues"], assigned_to=manager)
    assert may_touch(manager, task)

    monkeypatch.setattr(LeadTask, "visibility_q", classmethod(lambda cls, user: Q(lead__assigned_to=user)))

    # A rule across a relation is asked of the database; the annotation of with_visibility is used when present.
    assert not may_touch(manager, task)
    annotated = LeadTask.objects.for_tenant(task.tenant_id).with_visibility(other_manager).get(pk=task.pk)
    assert may_touch(other_manager, annotated)


@pytest.mark.parametrize(
    "name",
    [
        "get_queryset",
        "get_object",
        "initial",
        "get_permissions",
        "get_authenticators",
        "permission_classes",
        "authentication_classes",
    ],
)
def test_a_viewset_cannot_widen_the_scope_or_who_may_call(name):
    widening = {
        "permission_classes": [AllowAny],
        "authentication_classes": [],
    }.get(name, lambda self, *args, **kwargs: None)

    with pytest.raises(TypeError, match=name):
        type("Sneaky", (TenantScopedViewSet,), {name: widening})
