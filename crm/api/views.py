"""Core endpoints: auth, users, tenant settings."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import services
from crm.api.pagination import ApiPagination
from crm.api.serializers import (
    AccessTokenSerializer,
    MeSerializer,
    TenantSerializer,
    TenantUpdateInputSerializer,
    TokenObtainInputSerializer,
    TokenPairSerializer,
    TokenRefreshInputSerializer,
    UserCreateInputSerializer,
    UserSerializer,
    UserUpdateInputSerializer,
    WebhookKeySerializer,
)
from crm.api.viewsets import TenantAPIView, TenantScopedViewSet
from crm.errors import Unauthorized
from crm.login_limits import LoginLimited, authenticate_limited
from crm.models import ACCOUNT_ADMIN_ROLES, User
from crm.tokens import issue_token_pair, refresh_access_token


class TokenObtainView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["Auth"],
        request=TokenObtainInputSerializer,
        responses={
            200: TokenPairSerializer,
            400: OpenApiResponse(description="A missing or malformed field: the error envelope, `validation_error`."),
            401: OpenApiResponse(description="Wrong login or password, or a deactivated user: `unauthorized`."),
            429: OpenApiResponse(
                description="Too many failed logins for the account or the client IP (SPEC §15): `rate_limited` with "
                "`Retry-After`, whatever the password, until the window passes."
            ),
        },
        summary="Obtain an access/refresh token pair (username or email + password); failed logins are limited",
    )
    def post(self, request):
        data = _validated(TokenObtainInputSerializer, request.data)
        try:
            user = authenticate_limited(request._request, login=data["username"], password=data["password"])
        except LoginLimited as exc:
            # DRF's Throttled is what the envelope handler turns into 429 `rate_limited` with Retry-After.
            raise Throttled(wait=exc.retry_after, detail=exc.message) from exc
        if user is None or user.tenant_id is None:
            raise Unauthorized("Wrong username or password, or the user is deactivated.")
        return Response(issue_token_pair(user))


class TokenRefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["Auth"],
        request=TokenRefreshInputSerializer,
        responses={200: AccessTokenSerializer},
        summary="Exchange a refresh token for a new access token",
    )
    def post(self, request):
        data = _validated(TokenRefreshInputSerializer, request.data)
        return Response({"access": refresh_access_token(data["refresh"])})


class MeView(TenantAPIView):
    @extend_schema(tags=["Auth"], responses={200: MeSerializer}, summary="The authenticated user")
    def get(self, request):
        return Response(MeSerializer.present(request.user))


@extend_schema_view(
    list=extend_schema(summary="Users of the tenant (any role)"),
    retrieve=extend_schema(summary="One user of the tenant"),
    create=extend_schema(
        summary="Create a user (owner, admin; only an owner creates owners)",
        request=UserCreateInputSerializer,
        responses={201: UserSerializer},
    ),
    partial_update=extend_schema(
        summary="Change role, name, email, activity or password (owner, admin)",
        request=UserUpdateInputSerializer,
        responses={200: UserSerializer},
    ),
)
@extend_schema(tags=["Users"])
class UserViewSet(
    mixins.RetrieveModelMixin,
    TenantScopedViewSet,
):
    queryset = User.objects.order_by("-date_joined", "-id")
    serializer_class = UserSerializer
    pagination_class = ApiPagination.for_rows("users")
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_roles = {"create": ACCOUNT_ADMIN_ROLES, "partial_update": ACCOUNT_ADMIN_ROLES}

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([UserSerializer.present(user) for user in page])

    def create(self, request):
        data = self.validated_input(UserCreateInputSerializer)
        user = services.user_create(tenant=self.tenant, acting_user=request.user, **data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        target = self.get_object()
        data = self.validated_input(UserUpdateInputSerializer)
        user = services.user_update(user=target, acting_user=request.user, **data)
        return Response(UserSerializer(user).data)


class TenantView(TenantAPIView):
    action_roles = {"GET": ACCOUNT_ADMIN_ROLES, "PATCH": ACCOUNT_ADMIN_ROLES}

    @extend_schema(tags=["Tenant"], responses={200: TenantSerializer}, summary="Tenant settings (owner, admin)")
    def get(self, request):
        return Response(TenantSerializer(self.tenant).data)

    @extend_schema(
        tags=["Tenant"],
        request=TenantUpdateInputSerializer,
        responses={200: TenantSerializer},
        summary='Change tenant settings; WhatsApp secrets are write-only, "" clears one (owner, admin)',
    )
    def patch(self, request):
        data = self.validated_input(TenantUpdateInputSerializer)
        tenant = services.tenant_update(tenant=self.tenant, **data)
        return Response(TenantSerializer(tenant).data)


class WebhookKeyRotateView(TenantAPIView):
    action_roles = {"POST": ACCOUNT_ADMIN_ROLES}

    @extend_schema(
        tags=["Tenant"],
        request=None,
        responses={200: WebhookKeySerializer},
        summary="Issue a new webhook key; the old one stops working at once (owner, admin)",
    )
    def post(self, request):
        return Response({"webhook_key": services.tenant_rotate_webhook_key(tenant=self.tenant)})


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
