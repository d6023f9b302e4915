"""Round-robin distribution of webhook leads (SPEC §12): each new lead goes to the next user of the tenant's list."""

from crm.models import LeadDistribution, Role, Tenant, User
from crm.tenancy import tenant_users
from pipelines.models import HistoryKind, Lead
from pipelines.services.leads import lead_history_record


def distribution_assignee_take(*, tenant: Tenant) -> User | None:
    """The user the next webhook lead goes to, moving the tenant's turn on; None when distribution is off or there is
    nobody to give it to. Call inside the transaction that creates the lead.

    The tenant's row stays locked (FOR NO KEY UPDATE, which does not block rows pointing at the tenant) until that
    transaction ends, so concurrent deliveries take turns one after another: nobody gets two leads in a row while
    another user waits. Users who became inactive are skipped.
    """
    if tenant.lead_distribution != LeadDistribution.ROUND_ROBIN:
        return None
    settings = (
        Tenant.objects.select_for_update(no_key=True)
        .only("lead_distribution", "distribution_user_ids", "distribution_cursor_user_id")
        .get(pk=tenant.pk)
    )
    if settings.lead_distribution != LeadDistribution.ROUND_ROBIN:
        return None
    if settings.distribution_user_ids:
        assignee = _next_listed(tenant, settings.distribution_user_ids, settings.distribution_cursor_user_id)
    else:
        assignee = _next_manager(tenant, settings.distribution_cursor_user_id)
    if assignee is not None:
        Tenant.objects.filter(pk=tenant.pk).update(distribution_cursor_user_id=assignee.pk)
    return assignee


def _next_listed(tenant: Tenant, user_ids: list[int], cursor: int | None) -> User | None:
    """The first active user of the list after the cursor, wrapping around (from the start if the cursor left it)."""
    active = {user.pk: user for user in tenant_users(tenant).filter(pk__in=user_ids, is_active=True)}
    start = user_ids.index(cursor) + 1 if cursor in user_ids else 0
    turn = user_ids[start:] + user_ids[:start]
    return next((active[pk] for pk in turn if pk in active), None)


def _next_manager(tenant: Tenant, cursor: int | None) -> User | None:
    """An empty list means every active manager, by id: the first after the cursor, else the first of all."""
    managers = tenant_users(tenant).filter(role=Role.MANAGER, is_active=True).order_by("id")
    after = managers.filter(pk__gt=cursor).first() if cursor is not None else None
    return after or managers.first()


def distribution_record(*, lead: Lead, assignee: User) -> None:
    """The `assigned` history entry of a lead given out in turn (its `lead_created` event already names the
    assignee)."""
    lead_history_record(
        lead=lead,
        kind=HistoryKind.ASSIGNED,
        text=f"Ответственный: — → {assignee.display_name} (распределение по очереди)",
    )
