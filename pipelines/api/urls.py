from django.urls import path
from rest_framework.routers import SimpleRouter

from pipelines import webhooks
from pipelines.api import conversion, lead_actions, loss_reasons, views

router = SimpleRouter(trailing_slash=False)
router.register("pipelines/stages", views.StageViewSet, basename="stage")
router.register("pipelines", views.PipelineViewSet, basename="pipeline")
router.register("leads", views.LeadViewSet, basename="lead")
router.register("loss-reasons", loss_reasons.LossReasonViewSet, basename="loss-reason")

urlpatterns = [
    path("leads/<str:pk>/merge", lead_actions.LeadMergeViewSet.as_view({"post": "merge"}), name="lead-merge"),
    path("leads/<str:pk>/convert", conversion.LeadConversionViewSet.as_view({"post": "convert"}), name="lead-convert"),
    path("v2/leads/table", views.LeadTableViewSet.as_view({"get": "list"}), name="lead-table"),
    path("webhooks/site/<str:webhook_key>", webhooks.SiteWebhookView.as_view(), name="webhook-site"),
    path("webhooks/chatflow/<str:webhook_key>", webhooks.ChatflowWebhookView.as_view(), name="webhook-chatflow"),
    path("webhooks/whatsapp/<str:webhook_key>", webhooks.WhatsAppWebhookView.as_view(), name="webhook-whatsapp"),
    *router.urls,
]
