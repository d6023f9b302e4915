from rest_framework.routers import SimpleRouter

from deals.api import views

router = SimpleRouter(trailing_slash=False)
router.register("clients", views.ClientViewSet, basename="v1-client")
router.register("deals", views.DealViewSet, basename="v1-deal")
router.register("policies", views.PolicyViewSet, basename="v1-policy")
router.register("payments", views.PaymentViewSet, basename="v1-payment")
router.register("tasks", views.DealTaskViewSet, basename="v1-task")

urlpatterns = router.urls
