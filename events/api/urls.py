from django.urls import path
from rest_framework.routers import SimpleRouter

from events.api.views import EventStreamView
from events.api.webhooks import WebhookSubscriptionViewSet

router = SimpleRouter(trailing_slash=False)
router.register("webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription")

urlpatterns = [
    path("events/stream", EventStreamView.as_view(), name="events-stream"),
    *router.urls,
]
