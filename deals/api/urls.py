from rest_framework.routers import SimpleRouter

from deals.api.views.clients import ClientViewSet
from deals.api.views.deals import DealViewSet
from deals.api.views.payments import PaymentViewSet
from deals.api.views.policies import PolicyViewSet
from deals.api.views.tasks import DealTaskViewSet

router = SimpleRouter(trailing_slash=False)
router.register("clients", ClientViewSet, basename="v1-client")
router.register("deals", DealViewSet, basename="v1-deal")
router.register("policies", PolicyViewSet, basename="v1-policy")
router.register("payments", PaymentViewSet, basename="v1-payment")
router.register("tasks", DealTaskViewSet, basename="v1-task")

urlpatterns = router.urls
