"""The back-office page of webhook subscriptions and their delivery log (SPEC §14): owner and admin only, writes
through the webhook services (the secret shown once, SSRF refusals on the URL field), the log read-only, replay."""

import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django.urls import reverse

from crm.tests.factories import UserFactory
from deals import services as deal_services
from deals.tests.factories import ClientFactory
from events.models import WebhookDelivery, WebhookSubscription
from events.tests.test_webhooks_out import APPS, jobs_in_process, receiver  # noqa: F401 - fixtures
from events.webhooks import services

ADD = reverse("admin:events_webhooksubscription_add")
LIST = reverse("admin:events_webhooksubscription_changelist")
LOG = reverse("admin:events_webhookdelivery_changelist")
# The back-office pages list every app's admin; the session and messages back the logged-in browser.
BACKOFFICE_APPS = [
    *APPS,
    "deals",
    "tasks",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
]


def change_url(subscription) -> str:
    return reverse("admin:events_webhooksubscription_change", args=[subscription.pk])


def browser_for(user) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(user)
    return browser


@pytest.fixture
def browser(owner):
    return browser_for(owner)


@pytest.fixture
def private_urls(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def _subscription(tenant, url="http://127.0.0.1:9/hooks", **fields) -> WebhookSubscription:
    return services.subscription_create(tenant=tenant, url=url, events=["deal_created"], **fields)[0]


def _form(**changes) -> dict:
    return {"url": "http://127.0.0.1:9/hooks", "events": ["deal_created", "deal_updated"], "description": "", **changes}


# ---------------------------------------------------------------- create, edit, delete


@pytest.mark.django_db
def test_the_secret_is_shown_once_on_the_page_that_answers_the_create(browser, owner, private_urls):
    response = browser.post(ADD, _form(description="Склад"))

    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret.startswith("whsec_")
    assert subscription.secret in response.content.decode()
    assert (subscription.tenant, subscription.url, subscription.events, subscription.description) == (
        owner.tenant,
        "http://127.0.0.1:9/hooks",
        ["deal_created", "deal_updated"],
        "Склад",
    )
    assert subscription.is_active
    for page in (LIST, change_url(subscription), f"{LOG}?subscription__id__exact={subscription.pk}"):
        shown = browser.get(page)
        assert shown.status_code == 200
        assert subscription.secret not in shown.content.decode()
        assert "whsec_" not in shown.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hooks", "http://169.254.169.254/latest/meta-data", "ftp://example.com/hooks", "not a url"],
)
def test_a_refused_url_is_an_error_on_the_url_field_and_nothing_is_stored(browser, url):
    response = browser.post(ADD, _form(url=url))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_an_unknown_event_type_is_refused_on_its_field(browser, private_urls):
    response = browser.post(ADD, _form(events=["lead_exploded"]))

    assert response.status_code == 200
    assert "events" in response.context["adminform"].form.errors
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_an_edit_changes_url_events_description_and_re_enables_with_the_reason_cleared(browser, owner, private_urls):
    subscription = _subscription(owner.tenant)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False, disabled_reason="7 попыток")
    secret = subscription.secret

    response = browser.post(
        change_url(subscription),
        _form(url="http://127.0.0.1:9/other", events=["payment_created"], description="Бухгалтерия", is_active="on"),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    subscription.refresh_from_db()
    assert (subscription.url, subscription.events, subscription.description) == (
        "http://127.0.0.1:9/other",
        ["payment_created"],
        "Бухгалтерия",
    )
    assert (subscription.is_active, subscription.disabled_reason, subscription.secret) == (True, "", secret)


@pytest.mark.django_db
def test_an_edit_to_a_refused_url_is_an_error_on_the_url_field_and_changes_nothing(
    browser, owner, private_urls, settings
):
    subscription = _subscription(owner.tenant)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False

    response = browser.post(change_url(subscription), _form(url="http://10.0.0.1/hooks", description="x"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["url"]
    subscription.refresh_from_db()
    assert (subscription.url, subscription.description) == ("http://127.0.0.1:9/hooks", "")


@pytest.mark.django_db
def test_deleting_a_subscription_deletes_its_log(browser, owner, private_urls):
    subscription = _subscription(owner.tenant)
    WebhookDelivery.objects.create(
        tenant=owner.tenant, subscription=subscription, event_id="evt_1_1", event_type="deal_created", attempt=1
    )
    delete_url = reverse("admin:events_webhooksubscription_delete", args=[subscription.pk])

    confirm = browser.get(delete_url)
    assert confirm.status_code == 200
    assert confirm.context["perms_lacking"] == set()
    response = browser.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not WebhookSubscription.objects.exists()
    assert not WebhookDelivery.objects.exists()


# ---------------------------------------------------------------- who


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["rop", "manager"])
def test_rop_and_managers_are_shut_out(owner, role, private_urls):
    subscription = _subscription(owner.tenant)
    browser = browser_for(UserFactory(tenant=owner.tenant, role=role))

    for page in (LIST, ADD, change_url(subscription), LOG):
        assert browser.get(page).status_code == 403, page
    assert browser.post(ADD, _form()).status_code == 403
    assert browser.post(change_url(subscription), _form(description="x")).status_code == 403
    assert WebhookSubscription.objects.get().description == ""


@pytest.mark.django_db
def test_a_superuser_sees_every_tenant_and_creates_for_the_one_picked(owner, foreign_owner, private_urls):
    own, foreign = _subscription(owner.tenant), _subscription(foreign_owner.tenant)
    root = browser_for(UserFactory(tenant=None, username="root", is_superuser=True, is_staff=True))

    listing = root.get(LIST)
    assert {row.pk for row in listing.context["cl"].result_list} == {own.pk, foreign.pk}
    response = root.post(ADD, _form(tenant=foreign_owner.tenant_id))

    assert response.status_code == 200
    assert WebhookSubscription.objects.for_tenant(foreign_owner.tenant_id).count() == 2


# ---------------------------------------------------------------- the delivery log


@pytest.mark.django_db
def test_the_log_is_read_only_and_filtered_by_subscription(browser, owner, private_urls):
    first, second = _subscription(owner.tenant), _subscription(owner.tenant, url="http://127.0.0.1:9/second")
    rows = [
        WebhookDelivery.objects.create(
            tenant=owner.tenant, subscription=subscription, event_id="evt_1_1", event_type="deal_created", attempt=1
        )
        for subscription in (first, second)
    ]
    assert f"{LOG}?subscription__id__exact={first.pk}" in browser.get(change_url(first)).content.decode()

    listing = browser.get(LOG, {"subscription__id__exact": first.pk})

    assert [row.pk for row in listing.context["cl"].result_list] == [rows[0].pk]
    change = reverse("admin:events_webhookdelivery_change", args=[rows[0].pk])
    assert browser.get(change).status_code == 200  # a view
    assert browser.post(change, {"error": "x"}).status_code == 403
    assert browser.get(reverse("admin:events_webhookdelivery_add")).status_code == 403
    assert list(listing.context["cl"].model_admin.get_actions(listing.wsgi_request)) == ["replay_from_event"]


@pytest.mark.django_db(transaction=True, available_apps=BACKOFFICE_APPS)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="positions are given at commit by PostgreSQL")
def test_replay_from_a_logged_attempt_delivers_again_from_its_event_in_order(owner, receiver):  # noqa: F811
    subscription = services.subscription_create(tenant=owner.tenant, url=receiver.url, events=["client_updated"])[0]
    client = ClientFactory(tenant=owner.tenant)
    deal_services.client_update(client=client, acting_user=owner, notes="Первое")
    deal_services.client_update(client=client, acting_user=owner, notes="Второе")
    assert [body["data"]["notes"] for body in receiver.bodies()] == ["Первое", "Второе"]
    first, second = WebhookDelivery.objects.order_by("created_at", "id")
    receiver.requests.clear()

    response = browser_for(owner).post(
        LOG, {"action": "replay_from_event", "_selected_action": [second.pk, first.pk]}, follow=True
    )

    assert response.status_code == 200
    assert [body["id"] for body in receiver.bodies()] == [first.event_id, second.event_id]
    assert [body["data"]["notes"] for body in receiver.bodies()] == ["Первое", "Второе"]
    assert f"Доставка повторяется: «{subscription.url}»." in response.content.decode()
