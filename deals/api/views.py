"""The /api/v1 endpoints (seed 002 + SPEC §9). Views configure and call one service each; no rules live here."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.idempotency import idempotent
from crm.api.pagination import V1Pagination
from crm.api.versioning import VersionedViewMixin
from crm.api.viewsets import TenantScopedViewSet
from deals import services
from deals.api import inputs
from deals.api.renderers import OrjsonRenderer
from deals.api.schema import PAGE_PARAMETERS, STALE, VERSIONED_PATCH, errors, transitions_doc
from deals.api.serializers import (
    CalculationSerializer,
    ClientSerializer,
    DealSerializer,
    DealTaskSerializer,
    JournalEntrySerializer,
    PaymentSerializer,
    PolicySerializer,
)
from deals.filtersets import (
    ClientFilterSet,
    DealFilterSet,
    DealTaskFilterSet,
    PaymentFilterSet,
    PolicyFilterSet,
    deal_status_filter,
)
from deals.models import (
    DEAL_TASK_TRANSITIONS,
    DEAL_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    POLICY_TRANSITIONS,
    Calculation,
    Client,
    Deal,
    DealTask,
    JournalEntry,
    Payment,
    Policy,
)
from deals.selectors import deal_week_page, list_source, with_renewal_deal


class V1ViewSet(VersionedViewMixin, TenantScopedViewSet):
    """Shared plumbing of the /api/v1 resources: JSON arrays with X-Total-Count/Link, orjson, id-first pages, ETags."""

    renderer_classes = [OrjsonRenderer]
    pagination_class = V1Pagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def filter_queryset(self, queryset):
        # Query filters narrow lists only: `?status=` must never turn a detail lookup into a 404.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    def retrieve(self, request, **kwargs):
        return Response(self.get_serializer(self.get_object()).data)

    def subcollection(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


class V1ListMixin:
    """`GET /<collection>`: filters, then the page (id-first, or one pass for `search`; see deals.selectors)."""

    def list(self, request):
        rows = self.get_queryset()
        page = self.paginate_queryset(list_source(self.filter_queryset(rows), rows, request.query_params))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema(tags=["Clients"])
@extend_schema_view(
    list=extend_schema(
        summary="Clients (any role)", responses={200: ClientSerializer(many=True), **errors("400 validation_error")}
    ),
    retrieve=extend_schema(summary="One client", responses={200: ClientSerializer, **errors("404 client_not_found")}),
)
class ClientViewSet(V1ListMixin, V1ViewSet):
    queryset = Client.objects.all()
    serializer_class = ClientSerializer
    filterset_class = ClientFilterSet
    not_found_error = "client_not_found"
    lookup_url_kwarg = "client_id"

    def scope_queryset(self, queryset):
        return queryset.defer("search_text")

    @extend_schema(
        summary="Create a client (any role)",
        request=inputs.ClientCreateInputSerializer,
        responses={201: ClientSerializer, **errors("400 validation_error", "409 client_exists")},
    )
    @idempotent
    def create(self, request):
        data = self.validated_input(inputs.ClientCreateInputSerializer)
        client = services.client_create(tenant=self.tenant, **data)
        return Response(ClientSerializer(client).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a client (supervisors; managers: clients of their deals)",
        request=inputs.ClientUpdateInputSerializer,
        responses={
            200: ClientSerializer,
            **errors("400 validation_error", "403 forbidden", "404 client_not_found", "409 client_exists", *STALE),
        },
        **VERSIONED_PATCH,
    )
    def partial_update(self, request, **kwargs):
        client = self.get_object()
        data, expected = self.validated_update(inputs.ClientUpdateInputSerializer)
        client = services.client_update(client=client, actor=request.user, expected=expected, **data)
        return Response(ClientSerializer(client).data)


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
        deal = services.deal_create(tenant=self.tenant, actor=request.user, **data)
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
        **VERSIONED_PATCH,
    )
    def partial_update(self, request, **kwargs):
        deal = self.get_object()
        data, expected = self.validated_update(inputs.DealUpdateInputSerializer)
        return Response(
            DealSerializer(services.deal_update(deal=deal, actor=request.user, expected=expected, **data)).data
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
        entry = services.journal_entry_create(deal=deal, actor=request.user, **data)
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
        deal = services.policy_renew(policy=self.get_object(), actor=request.user)
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
        **VERSIONED_PATCH,
    )
    def partial_update(self, request, **kwargs):
        policy = self.get_object()
        data, expected = self.validated_update(inputs.PolicyUpdateInputSerializer)
        return Response(PolicySerializer(services.policy_update(policy=policy, expected=expected, **data)).data)


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
        payment = services.payment_create(tenant=self.tenant, actor=request.user, **data)
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
        **VERSIONED_PATCH,
    )
    def partial_update(self, request, **kwargs):
        payment = self.get_object()
        data, expected = self.validated_update(inputs.PaymentUpdateInputSerializer)
        return Response(PaymentSerializer(services.payment_update(payment=payment, expected=expected, **data)).data)


@extend_schema(tags=["Tasks (v1)"])
@extend_schema_view(
    list=extend_schema(
        operation_id="v1_tasks_list",
        summary="Tasks, by due date (managers: assigned to them, authored by them, or of their deals)",
        responses={200: DealTaskSerializer(many=True), **errors("400 validation_error")},
    ),
    retrieve=extend_schema(
        operation_id="v1_tasks_retrieve",
        summary="One task",
        responses={200: DealTaskSerializer, **errors("403 forbidden", "404 task_not_found")},
    ),
    create=extend_schema(operation_id="v1_tasks_create"),
    partial_update=extend_schema(operation_id="v1_tasks_partial_update"),
)
class DealTaskViewSet(V1ListMixin, V1ViewSet):
    queryset = DealTask.objects.all()
    serializer_class = DealTaskSerializer
    filterset_class = DealTaskFilterSet
    not_found_error = "task_not_found"
    lookup_url_kwarg = "task_id"

    @extend_schema(
        summary="Create a task about a deal, its policy or payment (managers assign only to themselves)",
        request=inputs.DealTaskCreateInputSerializer,
        responses={
            201: DealTaskSerializer,
            **errors("400 validation_error", "403 forbidden", "404 deal_not_found"),
        },
    )
    @idempotent
    def create(self, request):
        data = self.validated_input(inputs.DealTaskCreateInputSerializer)
        task = services.deal_task_create(tenant=self.tenant, actor=request.user, **data)
        return Response(DealTaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a task's status, assignee and details",
        description=transitions_doc("task", DEAL_TASK_TRANSITIONS, 409)
        + "\n\n`started_at` is set on the first move to `in_progress`, `completed_at` on `done` or `cancelled`.",
        request=inputs.DealTaskUpdateInputSerializer,
        responses={
            200: DealTaskSerializer,
            **errors(
                "400 validation_error", "403 forbidden", "404 task_not_found", "409 invalid_status_transition", *STALE
            ),
        },
        **VERSIONED_PATCH,
    )
    def partial_update(self, request, **kwargs):
        task = self.get_object()
        data, expected = self.validated_update(inputs.DealTaskUpdateInputSerializer)
        task = services.deal_task_update(task=task, actor=request.user, expected=expected, **data)
        return Response(DealTaskSerializer(task).data)
