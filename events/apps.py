from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("События")

    def ready(self):
        from django_eventstream.views import get_listener_manager

        # events.subscriber replaces the library's Redis listener (one channel for every deployment, dies for good
        # after a long outage); without this the library would start its own on the first stream.
        get_listener_manager().redis_listener = None
