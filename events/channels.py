"""Which event channels a user may read. Derived on the server from the user only: nothing the client sends counts.

SPEC §8: supervisors (owner, rop, admin) hear every lead event of their tenant, on `tenant-<tid>`; a manager hears
the events of leads assigned to them, on `tenant-<tid>-user-<uid>`. The publisher writes each lead event to the
tenant channel and to the channel of each manager concerned (the assignee and, on a reassignment, the previous one).
"""

from django_eventstream.channelmanager import ChannelManagerBase

from crm.models import User


def tenant_channel(tenant_id: int) -> str:
    return f"tenant-{tenant_id}"


def user_channel(tenant_id: int, user_id: int) -> str:
    return f"tenant-{tenant_id}-user-{user_id}"


def channels_for_user(user: User | None) -> set[str]:
    """The channels `user` may read: empty for anonymous, inactive and tenant-less users."""
    if user is None or not user.is_authenticated or not user.is_active or user.tenant_id is None:
        return set()
    if user.is_supervisor:
        return {tenant_channel(user.tenant_id)}
    return {user_channel(user.tenant_id, user.pk)}


class TenantChannelManager(ChannelManagerBase):
    """django-eventstream's channel hook (`EVENTSTREAM_CHANNELMANAGER_CLASS`).

    The library's default reads channels from `?channel=` and lets anyone read anything. Here the request's channels
    come from the authenticated user alone, and `can_read_channel` repeats the check on every storage read (the
    stream passes a freshly loaded user there, so a deactivation or a role change ends the stream).
    """

    def get_channels_for_request(self, request, view_kwargs):
        return channels_for_user(getattr(request, "user", None))

    def can_read_channel(self, user, channel):
        return channel in channels_for_user(user)

    def is_channel_reliable(self, channel):
        return True
