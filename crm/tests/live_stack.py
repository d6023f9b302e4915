"""A whole live stack for the proof suites: a fresh PostgreSQL database, two tenants with staff, `crm.serve`.

Used by the concurrency tests, the schemathesis fuzz run and the load scenario. The database lives on the
server of DATABASE_URL under a name of its own (`<name of DATABASE_URL>_<suffix>`), is dropped and created
again, migrated, and filled through the real entry points: `manage.py create_tenant` and `POST /api/users`.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from crm.tests.live import create_tenant, manage, running_server, server_env, token_for

STAFF_PASSWORD = "Live-staff-pass-2025!"  # noqa: S105 - a throwaway database of the test run
# The proof suites fire many requests from one user in a second: the limits are tested elsewhere.
UNTHROTTLED = {
    "THROTTLE_USER_RATE": "1000000/s",
    "THROTTLE_TENANT_RATE": "1000000/s",
    "THROTTLE_WEBHOOK_RATE": "1000000/s",
}


def postgres_base_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def database_url(suffix: str) -> str:
    parts = urlsplit(postgres_base_url())
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{suffix}"))


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class LiveTenant:
    id: int
    slug: str
    webhook_key: str
    owner: dict
    users: dict = field(default_factory=dict)  # role name -> {"id", "uuid", "username", "token"}

    def headers(self, who: str = "owner") -> dict:
        return {"Authorization": f"Bearer {self.users[who]['token']}"}


@dataclass
class LiveStack:
    base_url: str
    db_url: str
    tenants: dict[str, LiveTenant]

    def sql(self, query: str, *params):
        """Read the server's database directly (what the API cannot show, e.g. stored events)."""
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()


def _add_staff(base_url: str, tenant: LiveTenant, roles: dict[str, str]) -> None:
    owner_headers = {"Authorization": f"Bearer {tenant.owner['token']}"}
    tenant.users["owner"] = tenant.owner
    for name, role in roles.items():
        username = f"{tenant.slug}-{name}"
        response = httpx.post(
            f"{base_url}/api/users",
            json={"username": username, "password": STAFF_PASSWORD, "role": role, "full_name": name.title()},
            headers=owner_headers,
            timeout=30,
        )
        response.raise_for_status()
        user = response.json()
        tenant.users[name] = {
            "id": user["id"],
            "uuid": user["uuid"],
            "username": username,
            "token": token_for(base_url, username, STAFF_PASSWORD),
        }


@contextmanager
def live_stack(suffix: str, *, workers: int = 2, slugs=("alpha", "beta"), **env):
    """Yield a LiveStack: tenants `slugs`, each with owner, rop, manager1, manager2 and tokens for all."""
    db_url = database_url(suffix)
    recreate_database(db_url)
    server = server_env(DATABASE_URL=db_url, **{**UNTHROTTLED, **env})
    manage(server, "migrate", "--noinput")
    created = {slug: create_tenant(server, slug, password=STAFF_PASSWORD) for slug in slugs}
    with running_server(server, workers=workers, startup_timeout=180) as base_url:
        tenants = {}
        for slug, info in created.items():
            me = httpx.get(
                f"{base_url}/api/auth/me",
                headers={"Authorization": f"Bearer {token_for(base_url, info['username'], STAFF_PASSWORD)}"},
                timeout=30,
            ).json()
            owner = {
                "id": me["id"],
                "uuid": me["uuid"],
                "username": info["username"],
                "token": token_for(base_url, info["username"], STAFF_PASSWORD),
            }
            tenant = LiveTenant(id=info["tenant_id"], slug=slug, webhook_key=info["webhook_key"], owner=owner)
            _add_staff(base_url, tenant, {"rop": "rop", "manager1": "manager", "manager2": "manager"})
            tenants[slug] = tenant
        yield LiveStack(base_url=base_url, db_url=db_url, tenants=tenants)
