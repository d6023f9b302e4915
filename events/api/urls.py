from django.urls import path

from events.api.views import EventStreamView

urlpatterns = [
    path("events/stream", EventStreamView.as_view(), name="events-stream"),
]
