"""SPEC §2: token, refresh, me, and the 401 matrix for every kind of bad token."""

import base64
import datetime as dt
import json

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm.tests.factories import TEST_PASSWORD, TenantFactory, UserFactory
from crm.tokens import issue_token_pair, user_for_access_token

TOKEN_URL = "/api/auth/token"
ME_URL = "/api/auth/me"
SECRET = "test-only-secret-key-0123456789abcdef0123456789abcdef"


def _claims(user, **overrides):
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user.uuid), "tenant_id": user.tenant_id, "exp": now + dt.timedelta(minutes=5), "iat": now}
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _me(api_client, token):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(ME_URL)


def test_token_pair_for_username_and_email(owner, api_client):
    for login in ("owner", "OWNER", "owner@example.com"):
        response = api_client(None).post(TOKEN_URL, {"username": login, "password": TEST_PASSWORD})
        assert response.status_code == 200, login
        assert set(response.json()) == {"access", "refresh"}


def test_access_token_carries_user_tenant_and_role(owner, api_client):
    access = issue_token_pair(owner)["access"]
    claims = jwt.decode(access, SECRET, algorithms=["HS256"])
    assert claims["user_id"] == str(owner.id)
    assert claims["tenant_id"] == owner.tenant_id
    assert claims["role"] == "owner"
    assert claims["token_type"] == "access"


def test_me_returns_the_contract_fields(owner, owner_client):
    response = owner_client.get(ME_URL)
    assert response.status_code == 200
    assert response.json() == {
        "id": owner.id,
        "uuid": str(owner.uuid),
        "username": "owner",
        "email": "owner@example.com",
        "tenant_id": owner.tenant_id,
        "role": "owner",
        "full_name": owner.full_name,
    }


def test_refresh_gives_a_working_access_token(owner, api_client):
    refresh = issue_token_pair(owner)["refresh"]
    response = api_client(None).post("/api/auth/token/refresh", {"refresh": refresh})
    assert response.status_code == 200
    assert _me(api_client, response.json()["access"]).json()["id"] == owner.id


def test_refresh_token_is_not_an_access_token(owner, api_client):
    refresh = issue_token_pair(owner)["refresh"]
    response = _me(api_client, refresh)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "owner", "password": "wrong"},
        {"username": "nobody", "password": TEST_PASSWORD},
        {"username": "", "password": ""},
    ],
)
def test_bad_credentials(owner, api_client, body):
    response = api_client(None).post(TOKEN_URL, body)
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unauthorized", "validation_error")


def test_wrong_password_is_401(owner, api_client):
    response = api_client(None).post(TOKEN_URL, {"username": "owner", "password": "wrong"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "Wrong username or password, or the user is deactivated.",
        "details": None,
    }


def test_deactivated_user_cannot_log_in_and_its_tokens_stop_working(owner, api_client):
    access = issue_token_pair(owner)["access"]
    owner.is_active = False
    owner.save()
    assert api_client(None).post(TOKEN_URL, {"username": "owner", "password": TEST_PASSWORD}).status_code == 401
    assert _me(api_client, access).status_code == 401


def test_refresh_of_a_deactivated_user_is_401(owner, api_client):
    refresh = issue_token_pair(owner)["refresh"]
    owner.is_active = False
    owner.save()
    assert api_client(None).post("/api/auth/token/refresh", {"refresh": refresh}).status_code == 401


def test_garbage_refresh_is_401(api_client, db):
    assert api_client(None).post("/api/auth/token/refresh", {"refresh": "x.y.z"}).status_code == 401


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: "garbage", id="garbage"),
        pytest.param(lambda user: "a.b.c", id="three-garbage-parts"),
        pytest.param(
            lambda user: jwt.encode(_claims(user), "another-secret-of-enough-length-0123456789", algorithm="HS256"),
            id="wrong-signature",
        ),
        pytest.param(
            lambda user: jwt.encode(
                _claims(user, exp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)), SECRET, algorithm="HS256"
            ),
            id="expired",
        ),
        pytest.param(
            lambda user: (
                _b64({"alg": "none", "typ": "JWT"})
                + "."
                + _b64({**_claims(user), "exp": int(dt.datetime.now(dt.UTC).timestamp()) + 300})
                + "."
            ),
            id="alg-none",
        ),
        pytest.param(lambda user: jwt.encode(_claims(user, exp=None), SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(lambda user: jwt.encode(_claims(user, tenant_id=None), SECRET, algorithm="HS256"), id="no-tenant"),
        pytest.param(
            lambda user: jwt.encode(_claims(user, tenant_id=user.tenant_id + 1000), SECRET, algorithm="HS256"),
            id="tenant-mismatch",
        ),
        pytest.param(lambda user: jwt.encode(_claims(user, sub="not-a-uuid"), SECRET, algorithm="HS256"), id="bad-sub"),
        pytest.param(
            lambda user: jwt.encode(_claims(user, sub=None, user_id=None), SECRET, algorithm="HS256"), id="no-user"
        ),
        pytest.param(
            lambda user: jwt.encode(_claims(user, token_type="refresh"), SECRET, algorithm="HS256"), id="refresh-type"
        ),
    ],
)
def test_bad_tokens_are_401_in_the_envelope(owner, api_client, make_token):
    response = _me(api_client, make_token(owner))
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized"
    assert set(body) == {"error", "message", "details"}


def test_token_of_a_user_moved_to_another_tenant_is_401(owner, api_client):
    access = issue_token_pair(owner)["access"]
    owner.tenant = TenantFactory(slug="elsewhere")
    owner.save()
    assert _me(api_client, access).status_code == 401


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz"])
def test_malformed_authorization_header_is_401(owner, api_client, header):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME_URL)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_missing_token_is_401(api_client, db):
    response = api_client(None).get(ME_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_access_token_in_query_string_is_not_accepted_outside_the_stream(owner, api_client):
    access = issue_token_pair(owner)["access"]
    assert api_client(None).get(f"{ME_URL}?access_token={access}").status_code == 401


@pytest.mark.parametrize(
    "user_claims",
    [
        pytest.param(lambda user: {"sub": str(user.uuid)}, id="sub-uuid"),
        pytest.param(lambda user: {"sub": None, "user_id": user.id}, id="user_id-number"),
        pytest.param(lambda user: {"sub": None, "user_id": str(user.id)}, id="user_id-string"),
    ],
)
def test_gateway_hs256_tokens(owner, api_client, user_claims):
    token = jwt.encode(_claims(owner, **user_claims(owner)), SECRET, algorithm="HS256")
    response = _me(api_client, token)
    assert response.status_code == 200
    assert response.json()["uuid"] == str(owner.uuid)


@pytest.fixture
def rsa_keys():
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@pytest.fixture
def rs256(settings, rsa_keys):
    private_pem, public_pem = rsa_keys
    settings.SIMPLE_JWT = {
        **settings.SIMPLE_JWT,
        "ALGORITHM": "RS256",
        "SIGNING_KEY": private_pem,
        "VERIFYING_KEY": public_pem,
    }
    return private_pem


def test_gateway_rs256_token_is_accepted(owner, api_client, rs256):
    token = jwt.encode(_claims(owner), rs256, algorithm="RS256")
    assert _me(api_client, token).status_code == 200


def test_rs256_deployment_issues_verifiable_tokens(owner, api_client, rs256):
    pair = api_client(None).post(TOKEN_URL, {"username": "owner", "password": TEST_PASSWORD}).json()
    assert jwt.get_unverified_header(pair["access"])["alg"] == "RS256"
    assert _me(api_client, pair["access"]).status_code == 200


def test_rs256_rejects_hs256_and_foreign_keys(owner, api_client, rs256, rsa_keys):
    hs_token = jwt.encode(_claims(owner), SECRET, algorithm="HS256")
    assert _me(api_client, hs_token).status_code == 401
    other_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(_claims(owner), other_private, algorithm="RS256")
    assert _me(api_client, foreign).status_code == 401


def test_superuser_without_tenant_gets_no_api_token(api_client, db):
    UserFactory(tenant=None, username="root", is_superuser=True)
    response = api_client(None).post(TOKEN_URL, {"username": "root", "password": TEST_PASSWORD})
    assert response.status_code == 401


# Each token's signature is verified once per process and key set (crm.tokens.verified_claims); these hold the
# rules that must still apply on every later use of the same token.


def test_a_token_accepted_once_is_refused_once_it_expires(owner, api_client):
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(_claims(owner, iat=now, exp=now + dt.timedelta(minutes=5)), SECRET, algorithm="HS256")
    assert _me(api_client, token).status_code == 200
    with time_machine.travel(now + dt.timedelta(minutes=5, seconds=1), tick=False):
        response = _me(api_client, token)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_token_is_refused_until_its_not_before_time(owner, api_client):
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(_claims(owner, nbf=now + dt.timedelta(minutes=1)), SECRET, algorithm="HS256")
    assert _me(api_client, token).status_code == 401
    with time_machine.travel(now + dt.timedelta(minutes=2), tick=False):
        assert _me(api_client, token).status_code == 200
    assert _me(api_client, token).status_code == 401


def test_a_token_accepted_under_one_key_is_refused_after_the_key_changes(owner, api_client, settings):
    token = jwt.encode(_claims(owner), SECRET, algorithm="HS256")
    assert _me(api_client, token).status_code == 200
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": "a-rotated-secret-of-enough-length-0123456789abcdef"}
    assert _me(api_client, token).status_code == 401


def test_two_requests_with_one_token_do_not_share_its_claims(owner):
    token = jwt.encode(_claims(owner), SECRET, algorithm="HS256")
    first = user_for_access_token(token)[1]
    first["tenant_id"] = owner.tenant_id + 1000
    assert user_for_access_token(token)[1]["tenant_id"] == owner.tenant_id
