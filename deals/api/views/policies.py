"""`/api/v1/policies`: list, detail, change and renewal (a deal's policies are created under /deals)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.idempotency import idempotent
from deals import services
from deals.api import inputs
from deals.api.schema import STALE, VERSIONED_PATCH_PARAMETERS, errors, transitions_doc
from deals.api.serializers import DealSerializer, PolicySerializer
from deals.api.views.base import V1ListMixin, V1ViewSet
from deals.filtersets import PolicyFilterSet
from deals.models import POLICY_TRANSITIONS, Policy
from deals.selectors import with_renewal_deal


@extend_schema(tags=["Policies"])
@extend_schema_view(
    list=extend_schema(
        summary="Policies, ending first (managers: of their deals)",
        description="Ordered by `effective_to` ascending, then id.",
        responses={200: PolicySerializer(many=True), **errors("400 validation_error")},
    ),
    retrieve=extend_schema(
        summary="One policy", responses={200: PolicySerializer, **errors("403 forbidden", "404 policy_not_found")}
    ),
)
class PolicyViewSet(V1ListMixin, V1ViewSet):
    queryset = Policy.objects.all()
    serializer_class = PolicySerializer
    filterset_class = PolicyFilterSet
    not_found_error = "policy_not_found"
    lookup_url_kwarg = "policy_id"

    def scope_queryset(self, queryset):
        return with_renewal_deal(queryset).order_by("effective_to", "id")

    @extend_schema(
        summary="Renew a policy: open its renewal deal (status draft, same client and people)",
        description="The policy must be `active` or `renewal_due` (else 400 `validation_error`, `details.status`); "
        "the deal is titled «Продление: <old deal title>» and shows `renews_policy_id`, the policy "
        "`renewal_deal_id`. A policy is renewed once: a second call is 409 `conflict`. When a policy of the new "
        "deal becomes `active`, the renewed policy is closed.",
        request=None,
        responses={
            201: DealSerializer,
            **errors(
                "400 validation_error", "403 forbidden", "404 policy_not_found", "409 conflict", "409 deal_conflict"
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="renew")
    @idempotent
    def renew(self, request, **kwargs):
        deal = services.policy_renew(policy=self.get_object(), acting_user=request.user)
        return Response(DealSerializer(deal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a policy's status, end date, documents and sums",
        description=transitions_doc("policy", POLICY_TRANSITIONS, 400)
        + "\n\nMoving to `active` needs the deal's client `active` "
        "(else 412 `precondition_failed`, `details.client_id`).",
        request=inputs.PolicyUpdateInputSerializer,
        responses={
            200: PolicySerializer,
            **errors(
                "400 validation_error", "400 invalid_status_transition", "403 forbidden", "404 policy_not_found", *STALE
            ),
        },
        parameters=VERSIONED_PATCH_PARAMETERS,
    )
    def partial_update(self, request, **kwargs):
        policy = self.get_object()
        data, expected = self.validated_update(inputs.PolicyUpdateInputSerializer)
        return Response(PolicySerializer(services.policy_update(policy=policy, expected=expected, **data)).data)
