from django.urls import path
from rest_framework.routers import SimpleRouter

from crm.api import views

router = SimpleRouter(trailing_slash=False)
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [
    path("auth/token", views.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("tenant", views.TenantView.as_view(), name="tenant"),
    path("tenant/webhook-key/rotate", views.WebhookKeyRotateView.as_view(), name="tenant-webhook-key-rotate"),
    *router.urls,
]
