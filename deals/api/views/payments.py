"""`/api/v1/payments`: list (with its counted fast path), detail, create and change."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from crm.api.idempotency import idempotent
from deals import services
from deals.api import inputs
from deals.api.schema import STALE, VERSIONED_PATCH_PARAMETERS, errors, transitions_doc
from deals.api.serializers import PaymentSerializer
from deals.api.views.base import V1ListMixin, V1ViewSet
from deals.filtersets import PaymentFilterSet
from deals.models import PAYMENT_TRANSITIONS, Payment
from deals.payment_page import counted_payment_page


@extend_schema(tags=["Payments"])
@extend_schema_view(
    list=extend_schema(
        summary="Payments (managers: of their deals)",
        responses={200: PaymentSerializer(many=True), **errors("400 validation_error")},
    ),
    retrieve=extend_schema(
        summary="One payment", responses={200: PaymentSerializer, **errors("403 forbidden", "404 payment_not_found")}
    ),
)
class PaymentViewSet(V1ListMixin, V1ViewSet):
    queryset = Payment.objects.all()
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilterSet
    not_found_error = "payment_not_found"
    lookup_url_kwarg = "payment_id"

    def list(self, request):
        # The hot path: a supervisor's plain, status- or type-filtered list is read as values with its total from
        # the counters, without building querysets or filtersets (see CountedPaymentPage); anything else goes the
        # general way.
        source = counted_payment_page(user=request.user, query_params=request.query_params)
        if source is None:
            return super().list(request)
        page = self.paginate_queryset(source)
        return self.get_paginated_response(PaymentSerializer(page, many=True).data)

    @extend_schema(
        summary="Record a planned payment of a deal's policy (status planned, RUB)",
        request=inputs.PaymentCreateInputSerializer,
        responses={
            201: PaymentSerializer,
            **errors("400 validation_error", "403 forbidden", "404 deal_not_found", "404 policy_not_found"),
        },
    )
    @idempotent
    def create(self, request):
        data = self.validated_input(inputs.PaymentCreateInputSerializer)
        payment = services.payment_create(tenant=self.tenant, acting_user=request.user, **data)
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a payment's status, external reference, dates and notes",
        description=transitions_doc("payment", PAYMENT_TRANSITIONS, 400),
        request=inputs.PaymentUpdateInputSerializer,
        responses={
            200: PaymentSerializer,
            **errors(
                "400 validation_error",
                "400 invalid_status_transition",
                "403 forbidden",
                "404 payment_not_found",
                *STALE,
            ),
        },
        parameters=VERSIONED_PATCH_PARAMETERS,
    )
    def partial_update(self, request, **kwargs):
        payment = self.get_object()
        data, expected = self.validated_update(inputs.PaymentUpdateInputSerializer)
        return Response(PaymentSerializer(services.payment_update(payment=payment, expected=expected, **data)).data)
