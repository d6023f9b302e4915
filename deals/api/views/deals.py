"""`/api/v1/deals`: list (with its per-week fast path), detail, create and change, and the deal's journal,
calculations and policies."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.idempotency import idempotent
from deals import services
from deals.api import inputs
from deals.api.schema import PAGE_PARAMETERS, STALE, VERSIONED_PATCH_PARAMETERS, errors, transitions_doc
from deals.api.serializers import CalculationSerializer, DealSerializer, JournalEntrySerializer, PolicySerializer
from deals.api.views.base import V1ViewSet
from deals.filtersets import DealFilterSet, deal_status_filter
from deals.models import DEAL_TRANSITIONS, Calculation, Deal, JournalEntry, Policy
from deals.selectors import deal_week_page, list_source, with_renewal_deal


@extend_schema(tags=["Deals"])
@extend_schema_view(
    list=extend_schema(
        summary="Deals (managers: where they are the sales agent or the executor)",
        responses={200: DealSerializer(many=True), **errors("400 validation_error")},
    ),
    retrieve=extend_schema(
        summary="One deal", responses={200: DealSerializer, **errors("403 forbidden", "404 deal_not_found")}
    ),
)
class DealViewSet(V1ViewSet):
    queryset = Deal.objects.all()
    serializer_class = DealSerializer
    filterset_class = DealFilterSet
    not_found_error = "deal_not_found"
    lookup_url_kwarg = "deal_id"

    def scope_queryset(self, queryset):
        return queryset.select_related("client").only(
            *(field.attname for field in Deal._meta.concrete_fields), "client__full_name"
        )

    def list(self, request):
        statuses = deal_status_filter(request.query_params)
        # The hot path: a supervisor's plain or status-filtered list is read through the per-week counters
        # without building querysets or filtersets (see DealWeekPage); anything else goes the general way.
        source = deal_week_page(user=request.user, query_params=request.query_params, statuses=statuses)
        if source is None:
            rows = self.get_queryset()
            source = list_source(self.filter_queryset(rows), rows, request.query_params)
        page = self.paginate_queryset(source)
        return self.get_paginated_response(DealSerializer(page, many=True).data)

    @extend_schema(
        summary="Open a deal (status draft, with its document folder)",
        description="A manager must be the deal's sales agent or executor.",
        request=inputs.DealCreateInputSerializer,
        responses={
            201: DealSerializer,
            **errors("400 validation_error", "403 forbidden", "404 client_not_found", "409 deal_conflict"),
        },
    )
    @idempotent
    def create(self, request):
        data = self.validated_input(inputs.DealCreateInputSerializer)
        deal = services.deal_create(tenant=self.tenant, acting_user=request.user, **data)
        return Response(DealSerializer(deal).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a deal: title, description, status, people, dates",
        description=transitions_doc("deal", DEAL_TRANSITIONS, 400)
        + "\n\nStatus, sales agent and executor changes are written to the journal. "
        "Managers may not change the sales agent or the executor. Moving to `issuing` or `active` needs the "
        "client `active` (else 412 `precondition_failed`, `details.client_id`).",
        request=inputs.DealUpdateInputSerializer,
        responses={
            200: DealSerializer,
            **errors(
                "400 validation_error",
                "400 invalid_status_transition",
                "403 forbidden",
                "404 deal_not_found",
                "409 deal_conflict",
                *STALE,
            ),
        },
        parameters=VERSIONED_PATCH_PARAMETERS,
    )
    def partial_update(self, request, **kwargs):
        deal = self.get_object()
        data, expected = self.validated_update(inputs.DealUpdateInputSerializer)
        return Response(
            DealSerializer(services.deal_update(deal=deal, acting_user=request.user, expected=expected, **data)).data
        )

    @extend_schema(
        summary="The deal's journal, newest first (notes and system entries)",
        parameters=PAGE_PARAMETERS,
        filters=False,
        responses={200: JournalEntrySerializer(many=True), **errors("403 forbidden", "404 deal_not_found")},
    )
    @action(detail=True, methods=["get"], url_path="journal")
    def journal(self, request, **kwargs):
        deal = self.get_object()
        entries = JournalEntry.objects.for_tenant(self.tenant).filter(deal=deal)
        return self.subcollection(entries, JournalEntrySerializer)

    @extend_schema(
        summary="Add a note to the deal's journal",
        request=inputs.JournalEntryCreateInputSerializer,
        responses={
            201: JournalEntrySerializer,
            **errors("400 validation_error", "403 forbidden", "404 deal_not_found"),
        },
    )
    @journal.mapping.post
    @idempotent
    def journal_create(self, request, **kwargs):
        deal = self.get_object()
        data = self.validated_input(inputs.JournalEntryCreateInputSerializer)
        entry = services.journal_entry_create(deal=deal, acting_user=request.user, **data)
        return Response(JournalEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The deal's calculations, newest first",
        parameters=PAGE_PARAMETERS,
        filters=False,
        responses={200: CalculationSerializer(many=True), **errors("403 forbidden", "404 deal_not_found")},
    )
    @action(detail=True, methods=["get"], url_path="calculations")
    def calculations(self, request, **kwargs):
        deal = self.get_object()
        return self.subcollection(Calculation.objects.for_tenant(self.tenant).filter(deal=deal), CalculationSerializer)

    @extend_schema(
        summary="Add an insurer's calculation to the deal",
        request=inputs.CalculationCreateInputSerializer,
        responses={
            201: CalculationSerializer,
            **errors("400 validation_error", "403 forbidden", "404 deal_not_found"),
        },
    )
    @calculations.mapping.post
    @idempotent
    def calculation_create(self, request, **kwargs):
        deal = self.get_object()
        data = self.validated_input(inputs.CalculationCreateInputSerializer)
        calculation = services.calculation_create(deal=deal, **data)
        return Response(CalculationSerializer(calculation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["Policies"],
        summary="The deal's policies, newest first",
        parameters=PAGE_PARAMETERS,
        filters=False,
        responses={200: PolicySerializer(many=True), **errors("403 forbidden", "404 deal_not_found")},
    )
    @action(detail=True, methods=["get"], url_path="policies")
    def policies(self, request, **kwargs):
        deal = self.get_object()
        policies = with_renewal_deal(Policy.objects.for_tenant(self.tenant).filter(deal=deal))
        return self.subcollection(policies, PolicySerializer)

    @extend_schema(
        tags=["Policies"],
        summary="Register a policy of the deal",
        description="`calculation_id` must be a calculation of the same deal; `effective_from <= effective_to`. "
        "An `active` policy needs the deal's client `active` (else 412 `precondition_failed`, `details.client_id`).",
        request=inputs.PolicyCreateInputSerializer,
        responses={
            201: PolicySerializer,
            **errors(
                "400 validation_error",
                "403 forbidden",
                "404 deal_not_found",
                "409 policy_conflict",
                "412 precondition_failed",
            ),
        },
    )
    @policies.mapping.post
    @idempotent
    def policy_create(self, request, **kwargs):
        deal = self.get_object()
        data = self.validated_input(inputs.PolicyCreateInputSerializer)
        policy = services.policy_create(deal=deal, **data)
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)
