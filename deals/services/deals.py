"""Deal writes: create, update (with the deal state machine) and the journal."""

from django.db import transaction
from django.utils.translation import gettext as _

from crm.errors import Forbidden
from crm.service_kit import apply_changes, save_or_conflict, status_move, validate
from crm.tenancy import check_may_touch, sees_whole_tenant
from crm.versions import ANY, Expected
from deals.errors import ClientNotFound, DealConflict, DealNotFound
from deals.folders import folder_provider
from deals.models import DEAL_TRANSITIONS, Client, Deal, DealStatus, JournalEntry, JournalKind
from deals.services.common import require_active_client
from events.services import webhook_event_emit

DEAL_EDITABLE_FIELDS = frozenset({"title", "description", "expected_close_date", "tags"})
_PEOPLE = (("sales_agent", "Агент"), ("executor", "Исполнитель"))
# A deal is issued and becomes active only for a confirmed client (SPEC §11).
CONFIRMED_CLIENT_STATUSES = frozenset({DealStatus.ISSUING, DealStatus.ACTIVE})


def _deal_conflict(title: str) -> DealConflict:
    return DealConflict(
        f"The client already has an open deal titled «{title}».", details={"title": ["An open deal has this title."]}
    )


def deal_for_acting_user(*, tenant, acting_user, deal_id) -> Deal:
    """The deal named in a body: 404 deal_not_found outside the tenant, 403 when the manager does not work on it."""
    deal = Deal.objects.for_tenant(tenant).filter(pk=deal_id).first()
    if deal is None:
        raise DealNotFound(f"Deal {deal_id} not found.")
    check_may_touch(acting_user, deal, _("This deal belongs to a colleague."))
    return deal


@transaction.atomic
def deal_create(
    *,
    tenant,
    acting_user,
    client_id,
    title: str,
    sales_agent,
    description: str = "",
    executor=None,
    expected_close_date=None,
    tags=(),
    lead_id: int | None = None,
    renews_policy=None,
    conflicts: dict | None = None,
) -> Deal:
    """Open a draft deal with its document folder; a manager must be its agent or executor.

    `lead_id`: the sales lead it was converted from (SPEC §12); a plain id, the deals app knows no leads.
    `renews_policy`: the policy this deal renews (SPEC §13), set here so the `deal_created` event carries it;
    `conflicts` adds the caller's refusals for other unique constraints (see `save_or_conflict`).
    """
    client = Client.objects.for_tenant(tenant).filter(pk=client_id).first()
    if client is None:
        raise ClientNotFound(f"Client {client_id} not found.")
    if not sees_whole_tenant(acting_user) and acting_user.uuid not in (
        sales_agent.uuid,
        getattr(executor, "uuid", None),
    ):
        raise Forbidden(_("A manager creates deals where they are the sales agent or the executor."))
    deal = Deal(
        tenant=tenant,
        client=client,
        title=title,
        description=description,
        sales_agent=sales_agent,
        executor=executor,
        expected_close_date=expected_close_date,
        tags=list(tags),
        lead_id=lead_id,
        renews_policy=renews_policy,
    )
    deal.folder_id = folder_provider().folder_for_deal(tenant_id=tenant.pk, deal_id=deal.pk, title=title)
    validate(deal)
    save_or_conflict(
        deal, {"deals_deal_open_title_uniq": _deal_conflict(title), **(conflicts or {})}, force_insert=True
    )
    webhook_event_emit(event_type="deal_created", tenant_id=deal.tenant_id, object_id=deal.pk)
    return deal


def _person(user) -> str:
    return user.display_name if user is not None else "—"


def _locked(deal: Deal) -> Deal:
    return (
        Deal.objects.for_tenant(deal.tenant_id)
        .select_for_update(of=("self",))
        .select_related("client", "sales_agent", "executor")
        .get(pk=deal.pk)
    )


def _move_status(deal: Deal, status: str) -> str | None:
    """The one enforcer of DEAL_TRANSITIONS (400 invalid_status_transition) and of the confirmed-client rule (412).

    Sets the new status and returns its journal text; None for the current status (a no-op).
    """
    previous = deal.status
    if not status_move(deal, DEAL_TRANSITIONS, status):
        return None
    if status in CONFIRMED_CLIENT_STATUSES:
        require_active_client(deal.client)
    return f"Статус: {previous} → {status}"


@transaction.atomic
def deal_update(*, deal: Deal, acting_user, status: str | None = None, expected: Expected = ANY, **changes) -> Deal:
    """Change a deal's fields, people and status (people and status journalled) as one new version.

    `expected` is the version the caller read (SPEC §11): checked under the row lock, stale → 412/409.
    """
    deal = _locked(deal)
    expected.check(deal.version)
    people = {name: changes.pop(name) for name, _ in _PEOPLE if name in changes}
    update_fields = apply_changes(deal, DEAL_EDITABLE_FIELDS, changes)
    notes = []
    for name, label in _PEOPLE:
        if name not in people or getattr(deal, f"{name}_id") == getattr(people[name], "uuid", None):
            continue
        if not sees_whole_tenant(acting_user):
            raise Forbidden(_("Managers may not reassign deals."))
        notes.append(f"{label}: {_person(getattr(deal, name))} → {_person(people[name])}")
        setattr(deal, name, people[name])
        update_fields.append(name)
    status_note = _move_status(deal, status) if status is not None else None
    if status_note is not None:
        notes.append(status_note)
        update_fields.append("status")
    if update_fields:
        validate(deal)
        save_or_conflict(
            deal,
            {"deals_deal_open_title_uniq": _deal_conflict(deal.title)},
            bump=True,
            update_fields=[*update_fields, "updated_at"],
        )
        for text in notes:
            _journal_system(deal=deal, acting_user=acting_user, text=text)
        webhook_event_emit(event_type="deal_updated", tenant_id=deal.tenant_id, object_id=deal.pk)
    return deal


def deal_transition(*, deal: Deal, status: str, acting_user, expected: Expected = ANY) -> Deal:
    """Only a status change (the admin's status actions, the demo data): `deal_update` with just `status`."""
    return deal_update(deal=deal, acting_user=acting_user, status=status, expected=expected)


def _journal_system(*, deal: Deal, acting_user, text: str) -> JournalEntry:
    return JournalEntry.objects.create(
        tenant_id=deal.tenant_id, deal=deal, author=acting_user, kind=JournalKind.SYSTEM, text=text
    )


@transaction.atomic
def journal_entry_create(
    *, deal: Deal, acting_user, text: str, attachments=(), kind: str = JournalKind.NOTE
) -> JournalEntry:
    """A user's note in the deal journal, or a `system` record of something done elsewhere (a lead converted)."""
    entry = JournalEntry(
        tenant_id=deal.tenant_id,
        deal=deal,
        author=acting_user,
        kind=kind,
        text=text,
        attachments=list(attachments),
    )
    validate(entry)
    entry.save(force_insert=True)
    return entry
